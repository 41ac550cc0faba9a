// The store when it is not the database's only user (issue #12): two writers of one
// database (two API instances on one PostgreSQL, or two processes on one SQLite file), and
// a PostgreSQL server that drops the store's connections (a restart, a fail-over).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/store.hpp"
#include "harness.hpp"

using namespace api;

namespace {

OrderRecord closed_order(const std::string& key, std::int64_t car, api::Cents fee) {
    OrderRecord o;
    o.station_key = key;
    o.car_id = car;
    o.mode = "F";
    o.number = 1;
    o.number_text = "F1";
    o.state = "FINISHED";
    o.apply_kwh = 10;
    o.charge_kwh = 10;
    o.charge_fee_cents = fee;
    o.log_pos = 1;
    return o;
}

BillRecord bill(const std::string& key, const std::string& order_key, api::Cents fee) {
    BillRecord b;
    b.station_key = key;
    b.order_key = order_key;
    b.pile = "F1";
    b.start_ms = 1000;
    b.stop_ms = 2000;
    b.kwh = 10;
    b.hours = 0.5;
    b.charge_fee_cents = fee;
    b.log_pos = 1;
    return b;
}

// Two stores on one new database (two API instances), and a user with a car.
struct TwoStores {
    std::string db = harness::test_database(harness::temp_dir());
    Store a{db};
    Store b{db};
    std::int64_t user = *a.create_user("a@b.cn", "A", "hash");
    std::int64_t car = a.add_car(user, "car", 60, 0);
};

// Calls `f` until it does not throw (at most `tries` times); the number of throws.
template <typename F>
int failures_until_done(F&& f, int tries = 10) {
    for (int i = 0; i < tries; ++i) {
        try {
            f();
            return i;
        } catch (const std::exception&) {
        }
    }
    FAIL("still failing after " << tries << " tries");
    return tries;
}

}  // namespace

TEST_CASE("store: two writers of one database apply the log once, each following the other",
          "[api][store]") {
    TwoStores stores;
    auto& [db, a, b, user, car] = stores;
    // The token key is one row for both: tokens of one instance are good at the other.
    CHECK(a.setting_or_insert("jwt", "from-a") == "from-a");
    CHECK(b.setting_or_insert("jwt", "from-b") == "from-a");

    const LogPosition start = a.log_position("");  // a new database's: no run yet
    const LogPosition one{"run", 1};
    const std::vector<OrderRecord> orders{closed_order("run/1", car, 1250)};
    const std::vector<BillRecord> bills{bill("run/B1", "run/1", 1250)};
    REQUIRE(a.apply_changes("", start, one, orders, bills));
    // b saw the same batch: it was stored already, so nothing is written twice, and b now
    // knows where the database is and asks from there.
    CHECK_FALSE(b.apply_changes("", start, one, orders, bills));
    CHECK(b.log_position("").run == "run");
    CHECK(b.log_position("").pos == 1);
    const LogPosition two{"run", 2};
    REQUIRE(b.apply_changes("", one, two, {}, {bill("run/B2", "run/1", 100)}));
    CHECK_FALSE(a.apply_changes("", one, two, {}, {bill("run/B2", "run/1", 100)}));
    CHECK(a.log_position("").pos == 2);

    CHECK(a.user(user)->balance_cents == -1250);  // settled once
    CHECK(b.bills_of_order("", "run/1").size() == 2);
    const auto totals = a.pile_totals("");
    REQUIRE(totals.size() == 1);
    CHECK(totals[0].second.charges == 2);
    CHECK(totals[0].second.charge_fee_cents == 1350);
}

TEST_CASE("store: what another writer applied is not hidden by the rows kept in memory",
          "[api][store]") {
    TwoStores stores;
    auto& [db, a, b, user, car] = stores;
    // b serves the user and their orders from memory from here on.
    REQUIRE(b.user(user)->balance_cents == 0);
    REQUIRE(b.orders_of(user, false).empty());
    const auto bills_before = b.bills_version();
    const auto cars_before = b.cars_version();

    const LogPosition one{"run", 1};
    REQUIRE(a.apply_changes("", a.log_position(""), one, {closed_order("run/1", car, 400)},
                            {bill("run/B1", "run/1", 400)}));
    // b receives the same batch and finds it applied: what it kept is forgotten.
    CHECK_FALSE(b.apply_changes("", LogPosition{}, one, {closed_order("run/1", car, 400)},
                                {bill("run/B1", "run/1", 400)}));
    CHECK(b.user(user)->balance_cents == -400);
    CHECK(b.orders_of(user, false).size() == 1);
    CHECK(b.bills_version() != bills_before);  // the admin view's totals are built again
    CHECK(b.cars_version() != cars_before);    // and the cars' charge with them
}

TEST_CASE("store: on PostgreSQL, another instance's writes reach the rows kept in memory",
          "[api][store][postgresql]") {
    TwoStores stores;
    auto& [db, a, b, user, car] = stores;
    // b keeps the user (balance, token version) and their orders in memory.
    REQUIRE(b.user(user)->balance_cents == 0);
    const auto tokens_before = b.user(user)->token_version;
    REQUIRE(b.orders_of(user, true).empty());
    const auto cars_before = b.cars_version();
    const auto bills_before = b.bills_version();
    // Notices arrive a moment after the commit: each check waits for at most 5 s.
    const auto soon = [](auto&& holds) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!holds() && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return holds();
    };

    a.add_balance(user, 700);
    CHECK(soon([&] { return b.user(user)->balance_cents == 700; }));
    // A password changed at a: b refuses the old tokens too.
    a.update_user(user, std::nullopt, std::string("new-hash"));
    CHECK(soon([&] { return b.user(user)->token_version > tokens_before; }));
    // An order a stored from a reply (not from the log b follows too).
    OrderRecord open = closed_order("run/9", car, 0);
    open.state = "WAITING";
    REQUIRE(a.record_order(open));
    CHECK(soon([&] { return b.orders_of(user, true).size() == 1; }));
    a.update_car(*a.car(car));
    CHECK(soon([&] { return b.cars_version() != cars_before; }));
    REQUIRE(a.record_bill(bill("run/B9", "run/9", 2.0)));
    CHECK(soon([&] { return b.bills_version() != bills_before; }));
}

TEST_CASE("store: two instances creating one account at once make it once",
          "[api][store][postgresql]") {
    const std::string db = harness::test_database(harness::temp_dir());
    Store a(db);
    Store b(db);
    for (int round = 0; round < 20; ++round) {
        const std::string account = "racer" + std::to_string(round) + "@b.cn";
        std::atomic<int> made{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < 4; ++i) {
            threads.emplace_back([&, i] {
                Store& s = i % 2 == 0 ? a : b;
                // The same account, in other cases: one account for the API.
                std::string spelled = account;
                if (i >= 2) {
                    spelled[0] = 'R';
                }
                if (s.create_user(spelled, "R", "hash")) {
                    ++made;
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        CHECK(made.load() == 1);
    }
    // Two instances started together with the first admin's account: one admin.
    std::thread other([&] { b.ensure_admin("Root@b.cn", "hash"); });
    a.ensure_admin("root@b.cn", "hash");
    other.join();
    CHECK(harness::sql_value(db, "SELECT COUNT(*) FROM admins") == 1);
}

TEST_CASE("store: connections the PostgreSQL server dropped are made again on the next call",
          "[api][store][postgresql]") {
    const std::string db = harness::test_database(harness::temp_dir());
    Store s(db, 1);
    const auto user = *s.create_user("a@b.cn", "A", "hash");
    const auto car = s.add_car(user, "car", 60, 0);
    // As a restart of the server does: every session of this database ends.
    const auto drop_all = [&] {
        return harness::sql_value(db,
                                  "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    };
    REQUIRE(drop_all() >= 3);  // the writer, the log's writer and the reader

    // No call fails: a reader's query and a transaction's BEGIN that find their session
    // gone run again on a new one (nothing had been done on the lost one).
    std::optional<UserRecord> found;
    CHECK(failures_until_done([&] { found = s.user_by_account("a@b.cn"); }) == 0);
    REQUIRE(found);
    CHECK(found->id == user);
    std::optional<std::int64_t> second;
    CHECK(failures_until_done([&] { second = s.create_user("b@b.cn", "B", "hash"); }) == 0);
    CHECK(second.has_value());
    bool applied = false;
    CHECK(failures_until_done([&] {
              applied = s.apply_changes("", s.log_position(""), LogPosition{"run", 1},
                                        {closed_order("run/1", car, 300)}, {});
          }) == 0);
    CHECK(applied);
    CHECK(s.log_position("").pos == 1);
    CHECK(s.user(user)->balance_cents == -300);

    drop_all();
    CHECK(failures_until_done([&] { s.add_balance(user, 100); }) == 0);
    CHECK(s.user_by_account("a@b.cn")->balance_cents == -200);  // added once
}

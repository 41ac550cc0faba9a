// The store when it is not the database's only user (issue #12): two writers of one
// database (two API instances on one PostgreSQL, or two processes on one SQLite file), and
// a PostgreSQL server that drops the store's connections (a restart, a fail-over).
#include <catch2/catch.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "api/store.hpp"
#include "harness.hpp"

using namespace api;

namespace {

OrderRecord closed_order(const std::string& key, std::int64_t car, double fee) {
    OrderRecord o;
    o.station_key = key;
    o.car_id = car;
    o.mode = "F";
    o.number = 1;
    o.number_text = "F1";
    o.state = "FINISHED";
    o.apply_kwh = 10;
    o.charge_kwh = 10;
    o.charge_fee = fee;
    o.log_pos = 1;
    return o;
}

BillRecord bill(const std::string& key, const std::string& order_key, double fee) {
    BillRecord b;
    b.station_key = key;
    b.order_key = order_key;
    b.pile = "F1";
    b.start_ms = 1000;
    b.stop_ms = 2000;
    b.kwh = 10;
    b.hours = 0.5;
    b.charge_fee = fee;
    b.log_pos = 1;
    return b;
}

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
    const std::string db = harness::test_database(harness::temp_dir());
    Store a(db);
    Store b(db);
    const auto user = *a.create_user("a@b.cn", "A", "hash");
    const auto car = a.add_car(user, "car", 60, 0);
    // The token key is one row for both: tokens of one instance are good at the other.
    CHECK(a.setting_or_insert("jwt", "from-a") == "from-a");
    CHECK(b.setting_or_insert("jwt", "from-b") == "from-a");

    const LogPosition start = a.log_position();  // a new database's: no run yet
    const LogPosition one{"run", 1};
    const std::vector<OrderRecord> orders{closed_order("run/1", car, 12.5)};
    const std::vector<BillRecord> bills{bill("run/B1", "run/1", 12.5)};
    REQUIRE(a.apply_changes(start, one, orders, bills));
    // b saw the same batch: it was stored already, so nothing is written twice, and b now
    // knows where the database is and asks from there.
    CHECK_FALSE(b.apply_changes(start, one, orders, bills));
    CHECK(b.log_position().run == "run");
    CHECK(b.log_position().pos == 1);
    const LogPosition two{"run", 2};
    REQUIRE(b.apply_changes(one, two, {}, {bill("run/B2", "run/1", 1.0)}));
    CHECK_FALSE(a.apply_changes(one, two, {}, {bill("run/B2", "run/1", 1.0)}));
    CHECK(a.log_position().pos == 2);

    CHECK(a.user(user)->balance_cents == -1250);  // settled once
    CHECK(b.bills_of_order("run/1").size() == 2);
    const auto totals = a.pile_totals();
    REQUIRE(totals.size() == 1);
    CHECK(totals[0].second.charges == 2);
    CHECK(totals[0].second.charge_fee == Approx(13.5));
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
              applied = s.apply_changes(s.log_position(), LogPosition{"run", 1},
                                        {closed_order("run/1", car, 3.0)}, {});
          }) == 0);
    CHECK(applied);
    CHECK(s.log_position().pos == 1);
    CHECK(s.user(user)->balance_cents == -300);

    drop_all();
    CHECK(failures_until_done([&] { s.add_balance(user, 100); }) == 0);
    CHECK(s.user_by_account("a@b.cn")->balance_cents == -200);  // added once
}

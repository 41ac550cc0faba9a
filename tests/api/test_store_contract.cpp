// The store's contract (api/store_port.hpp) held on both of its implementations: the database
// adapter api::Store and the in-memory apitest::MemoryStore the use-case tests run on. Each
// check runs on both, in a section of its own, and compares only what a caller can observe
// (ids where both assign them from 1), so that the stand-in cannot drift from the database.
// The database is a SQLite file, or a PostgreSQL database under STATION_TEST_POSTGRES_URI_FILE.
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "api/store.hpp"
#include "app_calls.hpp"
#include "databases.hpp"
#include "harness.hpp"
#include "memory_store.hpp"

using api::BillRecord;
using api::CarClaim;
using api::LogPosition;
using api::OrderRecord;
using api::StorePort;

namespace {

constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;

// Runs `check` on a new, empty store of each kind.
template <typename F>
void on_both(F check) {
    SECTION("MemoryStore") {
        apitest::MemoryStore store;
        check(static_cast<StorePort&>(store));
    }
    SECTION("Store") {
        api::Store store(harness::test_database(harness::temp_dir(), "contract.db"));
        check(static_cast<StorePort&>(store));
    }
}

OrderRecord order(const std::string& station, const std::string& key, std::int64_t car,
                  const std::string& state, std::int64_t log_pos) {
    OrderRecord o = apicall::order_row(station, key, car, state, log_pos);
    o.mode = "F";
    o.number = 7;
    o.number_text = "F7";
    o.apply_kwh = 20;
    o.create_time = "2024-05-01 08:00:00";
    return o;
}

/// A user with 100 yuan and a car of 60 kWh holding 10: (user, car).
std::pair<std::int64_t, std::int64_t> driver_with_car(StorePort& store) {
    const std::int64_t user = *store.create_user("ann@b.cn", "Ann", "h");
    const std::int64_t car = store.add_car(user, "car", 60, 10);
    store.add_balance(user, 10'000);
    return {user, car};
}

OrderRecord finished(const std::string& station, const std::string& key, std::int64_t car,
                     std::int64_t log_pos, double kwh, api::Cents charge, api::Cents service) {
    OrderRecord o = order(station, key, car, "FINISHED", log_pos);
    o.charge_kwh = kwh;
    o.charge_fee_cents = charge;
    o.service_fee_cents = service;
    o.pile = "F1";
    o.finish_time = "2024-05-01 09:00:00";
    return o;
}

BillRecord bill(const std::string& station, const std::string& key, const std::string& order_key,
                const std::string& pile, std::int64_t start_ms, std::int64_t stop_ms, double kwh,
                api::Cents charge, api::Cents service) {
    BillRecord b;
    b.station = station;
    b.station_key = key;
    b.order_key = order_key;
    b.pile = pile;
    b.start_ms = start_ms;
    b.stop_ms = stop_ms;
    b.kwh = kwh;
    b.hours = 0.5;
    b.charge_fee_cents = charge;
    b.service_fee_cents = service;
    b.reason = "done";
    b.log_pos = 1;
    return b;
}

std::vector<std::int64_t> ids(const std::vector<OrderRecord>& orders) {
    std::vector<std::int64_t> out;
    for (const OrderRecord& o : orders) {
        out.push_back(o.id);
    }
    return out;
}

std::int64_t balance(StorePort& store, std::int64_t user) {
    return store.user(user).value().balance_cents;
}

double charge(StorePort& store, std::int64_t car) {
    return store.car(car).value().current_kwh;
}

}  // namespace

TEST_CASE("store contract: accounts, admins and settings", "[api][store-contract]") {
    on_both([](StorePort& store) {
        CHECK(store.setting_or_insert("key", "first") == "first");
        CHECK(store.setting_or_insert("key", "second") == "first");

        CHECK(store.create_user("ann@b.cn", "Ann", "h1") == 1);
        CHECK(store.create_user("bob@b.cn", "Bob", "h2") == 2);
        // An account is taken whatever the case of its letters.
        CHECK_FALSE(store.create_user("ANN@b.cn", "Other", "h3").has_value());
        CHECK_FALSE(store.user(3).has_value());
        CHECK(store.user_by_account("Ann@B.cn").value().id == 1);
        CHECK_FALSE(store.user_by_account("nobody@b.cn").has_value());

        const api::UserRecord ann = store.user(1).value();
        CHECK(ann.account == "ann@b.cn");
        CHECK(ann.name == "Ann");
        CHECK(ann.password_hash == "h1");
        CHECK(ann.balance_cents == 0);
        CHECK(ann.token_version == 0);

        // A new name keeps the sessions; a new password ends them.
        store.update_user(1, std::string("Anna"), std::nullopt);
        CHECK(store.user(1)->name == "Anna");
        CHECK(store.user(1)->token_version == 0);
        store.update_user(1, std::nullopt, std::string("h9"));
        CHECK(store.user(1)->password_hash == "h9");
        CHECK(store.user(1)->name == "Anna");
        CHECK(store.user(1)->token_version == 1);
        store.update_user(1, std::string("Ann"), std::string("h10"));
        CHECK(store.user(1)->token_version == 2);
        CHECK(store.user(2)->token_version == 0);

        CHECK(store.add_balance(1, 5000) == 5000);
        CHECK(store.add_balance(1, -1250) == 3750);
        CHECK_THROWS_AS(store.add_balance(99, 100), std::invalid_argument);
        CHECK(balance(store, 1) == 3750);
        CHECK(balance(store, 2) == 0);

        CHECK(store.ensure_admin("root@b.cn", "ha"));
        CHECK_FALSE(store.ensure_admin("ROOT@b.cn", "hb"));
        CHECK(store.admin(1).value().account == "root@b.cn");
        CHECK(store.admin(1)->password_hash == "ha");
        CHECK(store.admin_by_account("Root@B.CN").value().id == 1);
        CHECK_FALSE(store.admin(2).has_value());
        CHECK_FALSE(store.admin_by_account("ann@b.cn").has_value());
    });
}

TEST_CASE("store contract: cars, deleted ones hidden, the version growing",
          "[api][store-contract]") {
    on_both([](StorePort& store) {
        const std::int64_t ann = *store.create_user("ann@b.cn", "Ann", "h");
        const std::int64_t bob = *store.create_user("bob@b.cn", "Bob", "h");
        std::int64_t version = store.cars_version();
        CHECK(store.add_car(ann, "one", 60, 10) == 1);
        CHECK(store.add_car(bob, "two", 40, 0) == 2);
        CHECK(store.add_car(ann, "three", 80, 80) == 3);
        CHECK(store.cars_version() > version);

        const api::CarRecord one = store.car(1).value();
        CHECK(one.user_id == ann);
        CHECK(one.name == "one");
        CHECK(one.capacity_kwh == 60);
        CHECK(one.current_kwh == 10);
        std::vector<std::int64_t> of_ann;
        for (const api::CarRecord& c : store.cars_of(ann)) {
            of_ann.push_back(c.id);
        }
        CHECK(of_ann == std::vector<std::int64_t>{1, 3});

        version = store.cars_version();
        store.update_car(api::CarRecord{1, ann, "renamed", 70, 20.5});
        CHECK(store.cars_version() > version);
        CHECK(store.car(1)->name == "renamed");
        CHECK(store.car(1)->capacity_kwh == 70);
        CHECK(store.car(1)->current_kwh == 20.5);

        version = store.cars_version();
        store.delete_car(3);
        CHECK(store.cars_version() > version);
        CHECK_FALSE(store.car(3).has_value());
        CHECK(store.cars_of(ann).size() == 1);
        CHECK_FALSE(store.car(99).has_value());

        // The database refuses a car of no user, or without capacity, and stores nothing.
        version = store.cars_version();
        CHECK_THROWS(store.add_car(99, "nobody's", 60, 10));
        CHECK_THROWS(store.add_car(ann, "empty", 0, 0));
        CHECK_THROWS(store.update_car(api::CarRecord{1, ann, "bad", 60, -1}));
        CHECK(store.cars_version() == version);
        CHECK(store.cars_of(ann).size() == 1);
        CHECK(store.car(1)->name == "renamed");
    });
}

TEST_CASE("store contract: an order is settled once, when it first closes",
          "[api][store-contract]") {
    on_both([](StorePort& store) {
        const auto [user, car] = driver_with_car(store);

        OrderRecord waiting = order("", "R/1", car, "WAITING", 1);
        waiting.user_id = user;
        CHECK(store.record_order(waiting) == 1);
        const OrderRecord stored = store.order(1).value();
        CHECK(stored.station_key == "R/1");
        CHECK(stored.user_id == user);
        CHECK(stored.car_id == car);
        CHECK(stored.mode == "F");
        CHECK(stored.number == 7);
        CHECK(stored.number_text == "F7");
        CHECK(stored.state == "WAITING");
        CHECK(stored.apply_kwh == 20);
        CHECK(stored.create_time == "2024-05-01 08:00:00");
        CHECK(stored.log_pos == 1);
        CHECK(stored.station.empty());

        OrderRecord charging = order("", "R/1", car, "CHARGING", 3);
        charging.pile = "F1";
        charging.start_time = "2024-05-01 08:10:00";
        charging.create_time = "2024-05-02 00:00:00";  // the first create time stays
        CHECK(store.record_order(charging) == 1);
        CHECK(store.order(1)->state == "CHARGING");
        CHECK(store.order(1)->pile == "F1");
        CHECK(store.order(1)->create_time == "2024-05-01 08:00:00");
        CHECK(store.order(1)->start_time == "2024-05-01 08:10:00");
        CHECK(store.order(1)->log_pos == 3);
        // One of the same position is written (a reply and the log may both bring it).
        charging.front_cars = 2;
        CHECK(store.record_order(charging) == 1);
        CHECK(store.order(1)->front_cars == 2);

        // A state older than the stored one changes nothing.
        CHECK(store.record_order(order("", "R/1", car, "DISPATCHED", 2)) == 1);
        CHECK(store.order(1)->state == "CHARGING");
        CHECK(store.order(1)->log_pos == 3);
        CHECK(balance(store, user) == 10'000);
        CHECK(charge(store, car) == 10);

        // Closing settles: the fee from the balance, the energy into the car.
        const std::int64_t version = store.cars_version();
        CHECK(store.record_order(finished("", "R/1", car, 4, 12.5, 1234, 567)) == 1);
        CHECK(store.order(1)->state == "FINISHED");
        CHECK(store.order(1)->charge_fee_cents == 1234);
        CHECK(store.order(1)->service_fee_cents == 567);
        CHECK(store.order(1)->finish_time == "2024-05-01 09:00:00");
        CHECK(balance(store, user) == 10'000 - 1234 - 567);
        CHECK(charge(store, car) == 22.5);
        CHECK(store.cars_version() > version);

        // Once: closed is final, whatever comes after.
        CHECK(store.record_order(finished("", "R/1", car, 5, 30, 9999, 9999)) == 1);
        OrderRecord cancelled = order("", "R/1", car, "CANCELLED", 6);
        CHECK(store.record_order(cancelled) == 1);
        CHECK(store.order(1)->state == "FINISHED");
        CHECK(store.order(1)->charge_fee_cents == 1234);
        CHECK(store.order(1)->log_pos == 4);
        CHECK(balance(store, user) == 10'000 - 1234 - 567);
        CHECK(charge(store, car) == 22.5);

        // An order first seen closed is settled at once; a car is charged up to its capacity.
        CHECK(store.record_order(finished("", "R/2", car, 7, 50, 100, 50)) == 2);
        CHECK(balance(store, user) == 10'000 - 1234 - 567 - 150);
        CHECK(charge(store, car) == 60);
        // Cancelled without charge: settled with what it reports.
        CHECK(store.record_order(order("", "R/3", car, "CANCELLED", 8)) == 3);
        CHECK(balance(store, user) == 10'000 - 1234 - 567 - 150);

        // A car the store does not know: nothing stored.
        CHECK_FALSE(store.record_order(order("", "R/4", 99, "WAITING", 9)).has_value());
        CHECK_FALSE(store.order_id_by_key("", "R/4").has_value());
        CHECK_FALSE(store.order(4).has_value());
    });
}

TEST_CASE("store contract: orders by key, a user's open and closed ones, a car's open one",
          "[api][store-contract]") {
    on_both([](StorePort& store) {
        const std::int64_t ann = *store.create_user("ann@b.cn", "Ann", "h");
        const std::int64_t bob = *store.create_user("bob@b.cn", "Bob", "h");
        const std::int64_t car1 = store.add_car(ann, "one", 60, 10);
        const std::int64_t car2 = store.add_car(ann, "two", 60, 10);
        const std::int64_t car3 = store.add_car(bob, "three", 60, 10);

        // A key is unique within its station only.
        CHECK(store.record_order(order("", "R/1", car1, "WAITING", 1)) == 1);
        CHECK(store.record_order(order("S2", "R/1", car2, "WAITING", 1)) == 2);
        CHECK(store.record_order(order("", "R/2", car3, "WAITING", 2)) == 3);
        CHECK(store.record_order(finished("", "R/3", car1, 3, 0, 0, 0)) == 4);
        CHECK(store.record_order(order("", "R/4", car1, "WAITING", 4)) == 5);
        CHECK(store.order_id_by_key("", "R/1") == 1);
        CHECK(store.order_id_by_key("S2", "R/1") == 2);
        CHECK(store.order(2)->station == "S2");
        CHECK_FALSE(store.order_id_by_key("S3", "R/1").has_value());
        CHECK_FALSE(store.order_id_by_key("", "R/9").has_value());

        // Newest first.
        CHECK(ids(store.orders_of(ann, true)) == std::vector<std::int64_t>{5, 2, 1});
        CHECK(ids(store.orders_of(ann, false)) == std::vector<std::int64_t>{4});
        CHECK(ids(store.orders_of(bob, true)) == std::vector<std::int64_t>{3});
        CHECK(store.orders_of(bob, false).empty());
        CHECK(store.open_order_of_car(car1).value().id == 5);
        CHECK(store.open_order_of_car(car2).value().id == 2);

        CHECK(store.record_order(finished("", "R/4", car1, 5, 0, 0, 0)) == 5);
        CHECK(store.record_order(order("", "R/1", car1, "CANCELLED", 6)) == 1);
        CHECK(ids(store.orders_of(ann, true)) == std::vector<std::int64_t>{2});
        CHECK(ids(store.orders_of(ann, false)) == std::vector<std::int64_t>{5, 4, 1});
        CHECK_FALSE(store.open_order_of_car(car1).has_value());

        // A deleted car's orders stay, and its order is recorded still.
        store.delete_car(car2);
        CHECK(store.record_order(order("S2", "R/1", car2, "CHARGING", 2)) == 2);
        CHECK(store.open_order_of_car(car2).value().state == "CHARGING");
    });
}

TEST_CASE("store contract: applying the log moves the position, all or nothing",
          "[api][store-contract]") {
    on_both([](StorePort& store) {
        const auto [user, car] = driver_with_car(store);
        CHECK(store.log_position("").run.empty());
        CHECK(store.log_position("").pos == 0);
        CHECK_FALSE(store.has_station(""));

        const LogPosition first{"run-1", 5};
        const std::int64_t bills = store.bills_version();
        CHECK(store.apply_changes("", LogPosition{}, first, {order("", "R/1", car, "WAITING", 3)},
                                  {bill("", "R/B0", "R/0", "F1", 0, 1000, 5, 100, 50)}));
        CHECK(store.log_position("").run == "run-1");
        CHECK(store.log_position("").pos == 5);
        CHECK(store.order_id_by_key("", "R/1") == 1);
        CHECK(store.bills_of_order("", "R/0").size() == 1);
        CHECK(store.bills_version() > bills);
        CHECK(store.has_station(""));

        // Not from the stored position: false, nothing written.
        const auto refused = [&](const LogPosition& expected) {
            CHECK_FALSE(store.apply_changes("", expected, LogPosition{"run-1", 9},
                                            {order("", "R/2", car, "WAITING", 7)},
                                            {bill("", "R/B1", "R/2", "F1", 0, 2000, 5, 10, 0)}));
            CHECK(store.log_position("").pos == 5);
            CHECK_FALSE(store.order_id_by_key("", "R/2").has_value());
            CHECK(store.bills_of_order("", "R/2").empty());
        };
        refused(LogPosition{});
        refused(LogPosition{"run-1", 4});
        refused(LogPosition{"run-0", 5});

        // A row of another station: refused whole.
        CHECK_THROWS_AS(
            store.apply_changes(
                "", first, LogPosition{"run-1", 9},
                {order("", "R/2", car, "WAITING", 7), order("S2", "R/3", car, "WAITING", 7)}, {}),
            std::invalid_argument);
        CHECK_THROWS_AS(store.apply_changes("", first, LogPosition{"run-1", 9}, {},
                                            {bill("S2", "R/B1", "R/2", "F1", 0, 2000, 5, 10, 0)}),
                        std::invalid_argument);
        CHECK(store.log_position("").pos == 5);
        CHECK_FALSE(store.order_id_by_key("", "R/2").has_value());
        CHECK_FALSE(store.order_id_by_key("S2", "R/3").has_value());

        // The rules of record_order and record_bill: settled once, a bill once.
        const std::int64_t cars = store.cars_version();
        CHECK(store.apply_changes(
            "", first, LogPosition{"run-1", 8},
            {order("", "R/1", car, "CHARGING", 6), finished("", "R/1", car, 7, 10, 300, 200),
             order("", "R/1", car, "CANCELLED", 8)},
            {bill("", "R/B0", "R/0", "F1", 0, 1000, 5, 100, 50),
             bill("", "R/B2", "R/1", "F1", 0, 3000, 10, 300, 200)}));
        CHECK(store.cars_version() > cars);
        CHECK(store.order(1)->state == "FINISHED");
        CHECK(balance(store, user) == 10'000 - 500);
        CHECK(charge(store, car) == 20);
        CHECK(store.pile_totals("").size() == 1);
        CHECK(store.pile_totals("")[0].second.charges == 2);
        CHECK(store.apply_changes("", LogPosition{"run-1", 8}, LogPosition{"run-2", 1},
                                  {finished("", "R/1", car, 9, 10, 300, 200)}, {}));
        CHECK(balance(store, user) == 10'000 - 500);
        CHECK(store.log_position("").run == "run-2");
        CHECK(store.log_position("").pos == 1);

        // A row the database refuses (a mode other than F or T): nothing of it written.
        OrderRecord odd = order("", "R/5", car, "WAITING", 2);
        odd.mode = "X";
        CHECK_THROWS(store.apply_changes("", LogPosition{"run-2", 1}, LogPosition{"run-2", 3},
                                         {order("", "R/4", car, "WAITING", 2), odd},
                                         {bill("", "R/B4", "R/4", "F2", 0, 1000, 5, 10, 0)}));
        CHECK(store.log_position("").pos == 1);
        CHECK_FALSE(store.order_id_by_key("", "R/4").has_value());
        CHECK(store.bills_of_order("", "R/4").empty());
        CHECK(store.pile_totals("").size() == 1);

        // Each station's position is its own.
        CHECK(store.log_position("S2").run.empty());
        CHECK_FALSE(store.has_station("S2"));
        CHECK(store.apply_changes("S2", LogPosition{}, LogPosition{"run-9", 2}, {}, {}));
        CHECK(store.has_station("S2"));
        CHECK(store.log_position("S2").pos == 2);
        CHECK(store.log_position("").pos == 1);
    });
}

TEST_CASE("store contract: a bill is stored once, summed into its pile and reported",
          "[api][store-contract]") {
    on_both([](StorePort& store) {
        std::int64_t version = store.bills_version();
        CHECK(store.record_bill(bill("", "R/B1", "R/1", "F1", 2000, 10'000, 5, 100, 50)));
        CHECK(store.bills_version() > version);
        version = store.bills_version();
        CHECK_FALSE(store.record_bill(bill("", "R/B1", "R/1", "F1", 2000, 10'000, 7, 999, 9)));
        CHECK(store.bills_version() == version);
        CHECK(store.record_bill(bill("", "R/B2", "R/1", "F1", 1000, 20'000, 2.5, 30, 20)));
        CHECK(store.record_bill(bill("", "R/B3", "R/2", "T1", 0, 15'000, 1, 7, 3)));
        CHECK(store.record_bill(bill("S2", "R/B1", "R/1", "F1", 0, 12'000, 8, 40, 40)));
        CHECK(store.bills_version() > version);

        // A station's bills of an order, by start time.
        const std::vector<BillRecord> of_order = store.bills_of_order("", "R/1");
        REQUIRE(of_order.size() == 2);
        CHECK(of_order[0].station_key == "R/B2");
        CHECK(of_order[1].station_key == "R/B1");
        CHECK(of_order[1].kwh == 5);
        CHECK(of_order[1].hours == 0.5);
        CHECK(of_order[1].charge_fee_cents == 100);
        CHECK(of_order[1].service_fee_cents == 50);
        CHECK(of_order[1].start_ms == 2000);
        CHECK(of_order[1].stop_ms == 10'000);
        CHECK(of_order[1].reason == "done");
        CHECK(of_order[1].log_pos == 1);
        CHECK(of_order[1].order_key == "R/1");
        CHECK(of_order[1].pile == "F1");
        CHECK(store.bills_of_order("S2", "R/1").size() == 1);
        CHECK(store.bills_of_order("S2", "R/2").empty());

        // Pile totals: each bill once, by pile.
        const auto totals = store.pile_totals("");
        REQUIRE(totals.size() == 2);
        CHECK(totals[0].first == "F1");
        CHECK(totals[0].second.charges == 2);
        CHECK(totals[0].second.kwh == 7.5);
        CHECK(totals[0].second.hours == 1);
        CHECK(totals[0].second.charge_fee_cents == 130);
        CHECK(totals[0].second.service_fee_cents == 70);
        CHECK(totals[1].first == "T1");
        CHECK(totals[1].second.charges == 1);
        CHECK(store.pile_totals("S2").size() == 1);
        CHECK(store.pile_totals("S3").empty());

        // A report sums the bills whose stop time is in [from, to).
        const api::Totals all = store.report("", "F1", 10'000, 20'001);
        CHECK(all.charges == 2);
        CHECK(all.kwh == 7.5);
        CHECK(all.charge_fee_cents == 130);
        const api::Totals first = store.report("", "F1", 0, 20'000);
        CHECK(first.charges == 1);
        CHECK(first.service_fee_cents == 50);
        CHECK(store.report("", "F1", 10'001, 20'000).charges == 0);
        CHECK(store.report("", "F1", 10'001, 20'000).kwh == 0);
        CHECK(store.report("S2", "F1", 0, 20'000).charge_fee_cents == 40);
        CHECK(store.report("", "T9", 0, 20'000).charges == 0);
    });
}

TEST_CASE("store contract: an idempotency key keeps its request's answer for a day",
          "[api][store-contract]") {
    on_both([](StorePort& store) {
        const std::int64_t ann = *store.create_user("ann@b.cn", "Ann", "h");
        const std::int64_t bob = *store.create_user("bob@b.cn", "Bob", "h");
        const std::int64_t t0 = 1'700'000'000'000;

        // Reserved: status 0 while the outcome is not final, also for a retry.
        api::StoredAnswer a = store.reserve_answer(ann, "k1", "POST /a", t0);
        CHECK(a.status == 0);
        CHECK(a.request == "POST /a");
        CHECK(store.reserve_answer(ann, "k1", "POST /a", t0 + 10).status == 0);
        // Another request under the key finds the first one's (the caller refuses it).
        CHECK(store.reserve_answer(ann, "k1", "POST /b", t0 + 20).request == "POST /a");
        // Keys are the user's own.
        CHECK(store.reserve_answer(bob, "k1", "POST /b", t0 + 20).request == "POST /b");

        // Another request's answer does not replace the reservation; its own does, once.
        store.keep_answer(ann, "k1", api::StoredAnswer{"POST /b", 409, "other"}, t0 + 30);
        CHECK(store.reserve_answer(ann, "k1", "POST /a", t0 + 40).status == 0);
        store.keep_answer(ann, "k1", api::StoredAnswer{"POST /a", 201, "{\"id\":1}"}, t0 + 50);
        store.keep_answer(ann, "k1", api::StoredAnswer{"POST /a", 500, "late"}, t0 + 60);
        a = store.reserve_answer(ann, "k1", "POST /a", t0 + 70);
        CHECK(a.request == "POST /a");
        CHECK(a.status == 201);
        CHECK(a.body == "{\"id\":1}");
        CHECK(store.reserve_answer(bob, "k1", "POST /b", t0 + 70).status == 0);

        // A key never reserved keeps the first answer given.
        store.keep_answer(ann, "k2", api::StoredAnswer{"DELETE /c", 200, "ok"}, t0 + 80);
        CHECK(store.reserve_answer(ann, "k2", "DELETE /c", t0 + 90).status == 200);

        // Kept for a day from its reservation, then the key is free again.
        CHECK(store.reserve_answer(ann, "k1", "POST /z", t0 + kDayMs).status == 201);
        a = store.reserve_answer(ann, "k1", "POST /z", t0 + kDayMs + 1);
        CHECK(a.status == 0);
        CHECK(a.request == "POST /z");
        CHECK(a.body.empty());
    });
}

TEST_CASE("store contract: one claim per car, renewed by its station, taken over as held",
          "[api][store-contract]") {
    on_both([](StorePort& store) {
        const std::int64_t user = *store.create_user("ann@b.cn", "Ann", "h");
        const std::int64_t car = store.add_car(user, "car", 60, 10);
        const std::int64_t other = store.add_car(user, "other", 60, 10);

        CarClaim held = store.claim_car(CarClaim{car, "S1", 1000});
        CHECK(held.car_id == car);
        CHECK(held.station == "S1");
        CHECK(held.expires_ms == 1000);
        CHECK(store.claim_car(CarClaim{car, "S1", 5000}).expires_ms == 5000);
        CHECK(store.claim_car(CarClaim{car, "S1", 3000}).expires_ms == 5000);
        held = store.claim_car(CarClaim{car, "S2", 9000});
        CHECK(held.station == "S1");
        CHECK(held.expires_ms == 5000);
        CHECK(store.claim_car(CarClaim{other, "S2", 9000}).station == "S2");

        const CarClaim mine{car, "S2", 9000};
        CHECK_FALSE(store.take_over_claim(CarClaim{car, "S1", 1000}, mine));
        CHECK_FALSE(store.take_over_claim(CarClaim{car, "S3", 5000}, mine));
        CHECK(store.take_over_claim(held, mine));
        CHECK_FALSE(store.take_over_claim(held, CarClaim{car, "S3", 1}));
        held = store.claim_car(CarClaim{car, "S3", 1});
        CHECK(held.station == "S2");
        CHECK(held.expires_ms == 9000);
        CHECK_FALSE(store.take_over_claim(CarClaim{99, "S1", 1}, mine));
    });
}

TEST_CASE("store contract: a station's rows are told apart and adopted under a new id",
          "[api][store-contract]") {
    on_both([](StorePort& store) {
        const std::int64_t user = *store.create_user("ann@b.cn", "Ann", "h");
        const std::int64_t car = store.add_car(user, "car", 60, 10);
        CHECK_FALSE(store.has_station(""));
        CHECK(store.record_bill(bill("", "R/B1", "R/1", "F1", 0, 1000, 5, 100, 50)));
        CHECK(store.has_station(""));
        CHECK_FALSE(store.has_station("S1"));
        CHECK(store.record_order(finished("S1", "R/1", car, 3, 10, 100, 50)) == 1);
        CHECK(store.has_station("S1"));
        CHECK(store.apply_changes("", LogPosition{}, LogPosition{"run-1", 4},
                                  {finished("", "R/1", car, 4, 10, 100, 50)}, {}));
        CHECK(store.order_id_by_key("", "R/1") == 2);
        CHECK(balance(store, user) == -300);

        // Not onto itself, nor onto a station that has rows.
        CHECK_THROWS_AS(store.adopt_station("", ""), std::invalid_argument);
        CHECK_THROWS_AS(store.adopt_station("", "S1"), std::invalid_argument);
        CHECK(store.has_station(""));

        const std::int64_t cars = store.cars_version();
        const std::int64_t bills = store.bills_version();
        store.adopt_station("", "S9");
        CHECK(store.cars_version() >= cars);
        CHECK(store.bills_version() >= bills);
        CHECK_FALSE(store.has_station(""));
        CHECK(store.has_station("S9"));
        CHECK(store.log_position("").run.empty());
        CHECK(store.log_position("S9").run == "run-1");
        CHECK(store.log_position("S9").pos == 4);
        CHECK_FALSE(store.order_id_by_key("", "R/1").has_value());
        CHECK(store.order_id_by_key("S9", "R/1") == 2);
        CHECK(store.order(2)->station == "S9");
        CHECK(store.order_id_by_key("S1", "R/1") == 1);
        CHECK(store.bills_of_order("", "R/1").empty());
        REQUIRE(store.bills_of_order("S9", "R/1").size() == 1);
        CHECK(store.bills_of_order("S9", "R/1")[0].station == "S9");
        CHECK(store.pile_totals("").empty());
        CHECK(store.pile_totals("S9").size() == 1);
        CHECK(store.report("S9", "F1", 0, 2000).charges == 1);

        // Its settlements came along: its log applied again under the new id charges no one.
        CHECK(store.apply_changes("S9", LogPosition{"run-1", 4}, LogPosition{"run-1", 5},
                                  {finished("S9", "R/1", car, 4, 10, 100, 50)},
                                  {bill("S9", "R/B1", "R/1", "F1", 0, 1000, 5, 100, 50)}));
        CHECK(balance(store, user) == -300);
        CHECK(store.pile_totals("S9")[0].second.charges == 1);
        // A record of the old station is new there.
        CHECK(store.record_order(finished("", "R/1", car, 6, 10, 100, 50)) == 3);
        CHECK(balance(store, user) == -450);
    });
}

TEST_CASE("store contract: the in-memory store is never shared", "[api][store-contract]") {
    CHECK_FALSE(apitest::MemoryStore().shared());
}

// Copying the API's database between engines (api/database_copy.hpp): every table and
// column of the schema is copied, ids and sums kept, a non-empty target refused.

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <string>

#include "api/database_copy.hpp"
#include "api/store.hpp"
#include "app_calls.hpp"
#include "databases.hpp"
#include "harness.hpp"
#include "sql_connection.hpp"

using api::BillRecord;
using api::OrderRecord;
using api::Store;

namespace {

struct Filled {
    std::int64_t user = 0;
    std::int64_t car = 0;
    std::int64_t order = 0;
};

// A database with a row in every table, two stations' logs among them.
Filled fill(const std::string& location) {
    Store s(location, 1);
    s.setting_or_insert("jwt_key", "the-token-key");
    Filled f;
    f.user = *s.create_user("a@b.cn", "A", "hash");
    s.create_user("b@b.cn", "B", "hash-b");
    s.add_balance(f.user, 10000);
    s.ensure_admin("admin@b.cn", "admin-hash");
    f.car = s.add_car(f.user, "car", 60, 10.5);
    const auto gone = s.add_car(f.user, "old car", 50, 0);
    s.delete_car(gone);
    for (const std::string station : {"", "S2"}) {
        OrderRecord o = apicall::order_row(station, "run/0", f.car, "FINISHED", 2);
        o.charge_kwh = 10;
        o.charge_fee_cents = 729;
        o.service_fee_cents = 80;
        const BillRecord b{0,    "run/B0", "run/0", "T1",        0, 3600000, 10,
                           0.25, 729,      80,      "completed", 1, station};
        REQUIRE(s.apply_changes(station, {}, {"run", 2}, {o}, {b}));
    }
    OrderRecord open = apicall::order_row("S2", "run/1", f.car, "WAITING", 3);
    REQUIRE(s.apply_changes("S2", {"run", 2}, {"run", 3}, {open}, {}));
    f.order = *s.order_id_by_key("S2", "run/1");
    s.reserve_answer(f.user, "key-1", "POST /client/index/order", 1000);
    s.keep_answer(f.user, "key-1", {"POST /client/index/order", 200, "{\"code\":200}"}, 1000);
    s.claim_car({f.car, "S2", 5000});
    return f;
}

// What the API reads from a copy is what it read from the source.
void check_copy(const std::string& location, const Filled& f) {
    Store s(location, 1);
    CHECK(s.setting_or_insert("jwt_key", "another") == "the-token-key");
    const auto user = s.user(f.user);
    REQUIRE(user);
    CHECK(user->account == "a@b.cn");
    CHECK(user->balance_cents == 10000 - 2 * 809);  // settled once per station
    CHECK(s.user_by_account("B@b.cn")->password_hash == "hash-b");
    CHECK(s.admin_by_account("admin@b.cn")->password_hash == "admin-hash");
    REQUIRE(s.cars_of(f.user).size() == 1);
    CHECK(s.car(f.car)->current_kwh == 10.5 + 10 * 2);
    CHECK(s.order(f.order)->state == "WAITING");
    CHECK(s.open_order_of_car(f.car)->id == f.order);
    for (const std::string station : {"", "S2"}) {
        CHECK(s.log_position(station).run == "run");
        const auto bills = s.bills_of_order(station, "run/0");
        REQUIRE(bills.size() == 1);
        CHECK(bills[0].charge_fee_cents == 729);
        CHECK(bills[0].hours == 0.25);
        CHECK(s.pile_totals(station).at(0).second.service_fee_cents == 80);
    }
    CHECK(s.log_position("S2").pos == 3);
    CHECK(s.reserve_answer(f.user, "key-1", "POST /client/index/order", 2000).body ==
          "{\"code\":200}");
    CHECK(s.claim_car({f.car, "S3", 6000}).station == "S2");
    // New rows take ids after the copied ones (on PostgreSQL, the identities moved on).
    CHECK(*s.create_user("c@b.cn", "C", "hash") > f.user + 1);
    CHECK(s.add_car(f.user, "new car", 60, 0) > f.car + 1);
}

std::int64_t copied_rows(const std::vector<api::CopiedTable>& copied) {
    std::int64_t n = 0;
    for (const auto& t : copied) {
        CHECK(t.rows > 0);  // the filled database has a row in every table
        n += t.rows;
    }
    return n;
}

}  // namespace

TEST_CASE("database copy: the copied tables are the schema's, every table and column",
          "[api][copy][sqlite]") {
    const std::string path = harness::temp_dir() + "/schema.db";
    { Store s(path, 1); }
    const auto c = api::sql::open_connection(path, api::sql::Role::reader);
    std::set<std::string> in_database;
    {
        auto rows = c->query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
        while (rows.next()) {
            in_database.insert(rows.text(0));
        }
    }
    std::set<std::string> copied;
    for (const api::CopiedColumns& t : api::copied_tables()) {
        INFO("table " << t.table);
        copied.insert(t.table);
        std::set<std::string> columns;
        auto rows = c->query("SELECT name FROM pragma_table_info(?)", t.table);
        while (rows.next()) {
            columns.insert(rows.text(0));
        }
        CHECK(columns == std::set<std::string>(t.columns.begin(), t.columns.end()));
    }
    CHECK(copied == in_database);
}

TEST_CASE(
    "database copy: a SQLite file copied into another keeps every row, and the copy is "
    "refused into a database with rows",
    "[api][copy][sqlite]") {
    const std::string dir = harness::temp_dir();
    const std::string from = dir + "/from.db";
    const std::string to = dir + "/to.db";
    const Filled f = fill(from);
    CHECK(copied_rows(api::copy_database(from, to)) > 15);
    check_copy(to, f);
    CHECK_THROWS_WITH(api::copy_database(from, to), Catch::Matchers::Contains("not empty"));
    CHECK_THROWS_WITH(api::copy_database(dir + "/none.db", dir + "/other.db"),
                      Catch::Matchers::Contains("no database file"));
    CHECK_FALSE(std::filesystem::exists(dir + "/other.db"));
    CHECK_THROWS(api::copy_database(from, from));
}

TEST_CASE("database copy: a station's SQLite file moves to PostgreSQL and back, every row kept",
          "[api][copy][postgresql]") {
    const std::string dir = harness::temp_dir();
    const std::string from = dir + "/station.db";
    const std::string centre = harness::test_database(dir);
    REQUIRE(api::sql::is_postgresql(centre));
    const Filled f = fill(from);
    const std::int64_t rows = copied_rows(api::copy_database(from, centre));
    check_copy(centre, f);
    CHECK_THROWS_WITH(api::copy_database(from, centre), Catch::Matchers::Contains("not empty"));

    // Back to a file: a backup of the centre that SQLite can open (check_copy added rows).
    const std::string back = dir + "/back.db";
    CHECK(copied_rows(api::copy_database(centre, back)) == rows + 2);
    Store s(back, 1);
    CHECK(s.user_by_account("c@b.cn"));
    CHECK(s.user(f.user)->balance_cents == 10000 - 2 * 809);
}

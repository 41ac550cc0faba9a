// Unit tests of the API's pieces that need no server: password hashing, tokens, body
// fields, and the SQLite store (on a real file).
#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <variant>

#include "api/body_fields.hpp"
#include "api/log_follower.hpp"
#include "api/login_guard.hpp"
#include "api/passwords.hpp"
#include "api/scheduler_link.hpp"
#include "api/station_view.hpp"
#include "api/store.hpp"
#include "api/tokens.hpp"
#include "app_calls.hpp"
#include "contract/station_state.hpp"
#include "harness.hpp"

using namespace api;
using nlohmann::json;

TEST_CASE("passwords — salted and slow: same password different hashes, both verify", "[api]") {
    const std::string a = hash_password("秘密 pass", 2000);
    const std::string b = hash_password("秘密 pass", 2000);
    CHECK(a != b);
    CHECK(a.rfind("pbkdf2-sha256$2000$", 0) == 0);
    CHECK(verify_password("秘密 pass", a));
    CHECK(verify_password("秘密 pass", b));
    CHECK_FALSE(verify_password("秘密 pas", a));
    CHECK_FALSE(verify_password("", a));
}

TEST_CASE("passwords — a malformed stored hash never verifies", "[api]") {
    for (const char* stored :
         {"", "plain", "pbkdf2-sha256$", "pbkdf2-sha256$x$00$00", "pbkdf2-sha256$10$zz$00",
          "md5$1000$00$00", "pbkdf2-sha256$1000$00$abcd"}) {
        CHECK_FALSE(verify_password("anything", stored));
    }
}

TEST_CASE("tokens — issued tokens verify with role and subject until they expire", "[api]") {
    TokenService tokens(std::string(32, 'k'), 3600);
    const auto t = tokens.issue(42, Role::Admin, 1000);
    const auto claims = tokens.verify(t, 1000);
    REQUIRE(claims);
    CHECK(claims->subject == 42);
    CHECK(claims->role == Role::Admin);
    CHECK(claims->expires_s == 4600);
    CHECK(tokens.verify(t, 4599));
    CHECK_FALSE(tokens.verify(t, 4600));
    CHECK(claims->version == 0);
    CHECK(tokens.verify(tokens.issue(42, Role::Client, 1000, 3), 1000)->version == 3);
}

TEST_CASE("tokens — a remembered token still expires, and forgery beside it is still refused",
          "[api]") {
    TokenService tokens(std::string(32, 'k'), 3600);
    const auto t = tokens.issue(9, Role::Client, 1000);
    REQUIRE(tokens.verify(t, 1000));  // now remembered
    CHECK(tokens.verify(t, 4599)->subject == 9);
    CHECK_FALSE(tokens.verify(t, 4600));
    CHECK_FALSE(tokens.verify(t + "x", 1000));
    std::string flipped = t;
    flipped[flipped.size() - 2] = flipped[flipped.size() - 2] == 'A' ? 'B' : 'A';
    CHECK_FALSE(tokens.verify(flipped, 1000));
    // More tokens than it remembers: every one still verifies, with its own claims.
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(TokenService::kRemembered) + 10; ++i) {
        const auto claims = tokens.verify(tokens.issue(i, Role::Client, 1000), 1000);
        REQUIRE(claims);
        CHECK(claims->subject == i);
    }
    CHECK(tokens.verify(t, 1000)->subject == 9);
}

TEST_CASE("tokens — another key, a changed payload or junk is refused without throwing", "[api]") {
    TokenService tokens(std::string(32, 'k'), 3600);
    TokenService other(std::string(32, 'x'), 3600);
    const auto t = tokens.issue(7, Role::Client, 1000);
    CHECK_FALSE(other.verify(t, 1000));
    // Swap the payload for one claiming admin, keeping the signature.
    const auto admin = tokens.issue(7, Role::Admin, 1000);
    const std::string forged = t.substr(0, t.find('.')) +
                               admin.substr(admin.find('.'), admin.rfind('.') - admin.find('.')) +
                               t.substr(t.rfind('.'));
    CHECK_FALSE(tokens.verify(forged, 1000));
    // alg "none" with no signature.
    CHECK_FALSE(
        tokens.verify("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                      "eyJzdWIiOiI3Iiwicm9sZSI6ImFkbWluIiwiZXhwIjo5OTk5OTk5OTk5fQ.",
                      1000));
    for (const char* junk :
         {"", ".", "..", "a.b.c", "%%%.&&&.***", "eyJ.eyJ.x", "not a token at all"}) {
        CHECK_FALSE(tokens.verify(junk, 1000));
    }
    CHECK_FALSE(tokens.verify(std::string(10000, 'a'), 1000));
}

TEST_CASE("tokens — signed claims beyond a whole number within 2^53 are refused", "[api]") {
    // Only the server's key signs tokens, but a leaked key must not reach undefined
    // behaviour either (found by fuzzing: a huge "exp" cast to an integer).
    const std::string secret(32, 'k');
    TokenService tokens(secret, 3600);
    const auto signed_with = [&](double exp, double ver) {
        Poco::JWT::Token token;
        token.setSubject("7");
        token.payload().set("exp", exp);
        token.payload().set("role", std::string("client"));
        token.payload().set("ver", ver);
        return Poco::JWT::Signer(secret).sign(token, Poco::JWT::Signer::ALGO_HS256);
    };
    CHECK(tokens.verify(signed_with(5000, 0), 1000));
    CHECK_FALSE(tokens.verify(signed_with(1e300, 0), 1000));
    CHECK_FALSE(tokens.verify(signed_with(5000, -1e300), 1000));
    CHECK_FALSE(tokens.verify(signed_with(5000.5, 0), 1000));
    CHECK_FALSE(tokens.verify(signed_with(5000, 0.5), 1000));
}

TEST_CASE("login guard — five failures are free and then the lock doubles up to a cap", "[api]") {
    LoginGuard g(LoginLimits{5, 60, 900, 100, 1000});
    const std::string ip = "10.0.0.1";
    for (int i = 0; i < 5; ++i) {
        CHECK(g.wait_s("a", ip, 1000) == 0);
        g.failed("a", ip, 1000);
    }
    CHECK(g.wait_s("a", ip, 1000) == 0);
    g.failed("a", ip, 1000);  // the sixth
    CHECK(g.wait_s("a", ip, 1000) == 60);
    CHECK(g.wait_s("a", ip, 1059) == 1);
    CHECK(g.wait_s("a", ip, 1060) == 0);
    g.failed("a", ip, 1060);
    CHECK(g.wait_s("a", ip, 1060) == 120);
    for (int i = 0; i < 10; ++i) {
        g.failed("a", ip, 2000);
    }
    CHECK(g.wait_s("a", ip, 2000) == 900);
    CHECK(g.wait_s("b", ip, 2000) == 0);  // accounts are apart
    g.succeeded("a", ip);
    CHECK(g.wait_s("a", ip, 2000) == 0);
}

TEST_CASE("login guard — a guesser elsewhere cannot lock the user out", "[api]") {
    LoginGuard g(LoginLimits{5, 60, 900, 100, 1000});
    for (int i = 0; i < 50; ++i) {
        g.failed("victim", "203.0.113.9", 1000);
    }
    CHECK(g.wait_s("victim", "203.0.113.9", 1000) == 900);
    CHECK(g.wait_s("victim", "10.0.0.1", 1000) == 0);  // the victim's own address
}

TEST_CASE("login guard — one address spraying many accounts is locked", "[api]") {
    LoginGuard g(LoginLimits{5, 60, 900, 100, 100000});
    for (int i = 0; i < 100; ++i) {
        g.failed("user" + std::to_string(i), "203.0.113.9", 1000);  // one guess each
    }
    CHECK(g.wait_s("user0", "203.0.113.9", 1000) == 0);  // 100 failures are allowed
    g.failed("user100", "203.0.113.9", 1000);
    CHECK(g.wait_s("anyone", "203.0.113.9", 1000) == 60);
    CHECK(g.wait_s("anyone", "10.0.0.1", 1000) == 0);
}

TEST_CASE("login guard — a flood of made-up logins neither lifts a lock nor grows memory",
          "[api]") {
    LoginGuard g(LoginLimits{5, 60, 900, 1000000, 1000});
    for (int i = 0; i < 6; ++i) {
        g.failed("victim", "203.0.113.9", 1000);
    }
    REQUIRE(g.wait_s("victim", "203.0.113.9", 1000) == 60);
    // 100,000 made-up accounts from many addresses (the issue's attack, at table size 1,000).
    for (int i = 0; i < 100000; ++i) {
        g.failed("made-up" + std::to_string(i), "198.51.100." + std::to_string(i % 250), 1001);
    }
    CHECK(g.size() <= 1000);
    CHECK(g.wait_s("victim", "203.0.113.9", 1001) == 59);  // still locked
    CHECK(g.wait_s("victim", "203.0.113.9", 1060) == 0);   // until its time is up
}

TEST_CASE("fields — account and password rules of the document", "[api]") {
    CHECK(valid_account("u.zomc@oeoeh.mz"));
    CHECK(valid_account("a+b_c%d-e@x-y.example.cn"));
    CHECK_FALSE(valid_account("no-at-sign"));
    CHECK_FALSE(valid_account("a@b"));
    CHECK_FALSE(valid_account("a@b.c"));
    CHECK_FALSE(valid_account("a b@c.de"));
    CHECK_FALSE(valid_account(""));
    CHECK(valid_password("x"));
    CHECK(valid_password(std::string(32, 'p')));
    CHECK(valid_password(
        "密码密码密码密码密码密码密码密码密码密码密码密码密码密码密码密码"));  // 32 characters
    CHECK_FALSE(valid_password(""));
    CHECK_FALSE(valid_password(std::string(33, 'p')));
    CHECK_FALSE(valid_password("line\nbreak"));
    CHECK_FALSE(valid_password(std::string("\xff\xfe", 2)));
}

TEST_CASE("fields — typed getters: null is absent, wrong types are named", "[api]") {
    const json body = json::parse(
        R"({"s":"abc","n":1.5,"id":"17","nid":17,"bad_id":"1x","null":null,"arr":["F1"],"num_str":"5"})");
    BodyFields f(body);
    CHECK(f.text("s", Need::Required) == "abc");
    CHECK(f.number("n", Need::Required) == 1.5);
    CHECK(f.id("id", Need::Required) == 17);
    CHECK(f.id("nid", Need::Required) == 17);
    CHECK_FALSE(f.text("null", Need::Optional));
    CHECK(f.texts("arr", Need::Required)->at(0) == "F1");
    CHECK(f.ok());
    CHECK_FALSE(f.number("num_str", Need::Required));
    CHECK(f.error() == "字段 num_str 必须是数字");
    BodyFields g(body);
    CHECK_FALSE(g.id("bad_id", Need::Required));
    CHECK_FALSE(g.ok());
    BodyFields h(body);
    CHECK_FALSE(h.text("missing", Need::Required));
    CHECK(h.error() == "缺少字段 missing");
}

namespace {

struct TempDb {
    std::string path = harness::test_database(harness::temp_dir(), "store.db");
};

OrderRecord order(const std::string& key, std::int64_t car, const std::string& state, double kwh,
                  double fee) {
    OrderRecord o = apicall::order_row("", key, car, state, 0);
    o.charge_kwh = kwh;
    o.charge_fee_cents = api::to_cents(fee * 0.6);
    o.service_fee_cents = api::to_cents(fee * 0.4);
    return o;
}

// Applies rows as the next position of the log (bills first, then orders, as a batch).
void record_updates(Store& s, const std::vector<std::variant<OrderRecord, BillRecord>>& updates) {
    std::vector<OrderRecord> orders;
    std::vector<BillRecord> bills;
    for (const auto& u : updates) {
        if (const auto* o = std::get_if<OrderRecord>(&u)) {
            orders.push_back(*o);
        } else {
            bills.push_back(std::get<BillRecord>(u));
        }
    }
    const LogPosition at = s.log_position("");
    REQUIRE(s.apply_changes("", at, LogPosition{"run", at.pos + 1}, orders, bills));
}

// A database at schema `version` (a test of the migrations after it) with a user and a
// car: their ids.
std::pair<std::int64_t, std::int64_t> old_database(const std::string& path, int version) {
    Store old(path, 1, version);
    const std::int64_t user = *old.create_user("old@b.cn", "Old", "hash");
    return {user, old.add_car(user, "car", 60, 10)};
}

}  // namespace

TEST_CASE("store — schema is migrated once and survives reopening", "[api][store]") {
    TempDb db;
    std::int64_t user = 0;
    {
        Store s(db.path);
        user = *s.create_user("a@b.cn", "A", "hash");
        CHECK_FALSE(s.create_user("a@b.cn", "again", "hash"));
        s.add_car(user, "car", 60, 10);
    }
    Store s(db.path);
    CHECK(s.user_by_account("a@b.cn")->name == "A");
    CHECK(s.cars_of(user).size() == 1);
    CHECK(Store::schema_version() >= 1);
}

TEST_CASE("store — a version 1 database is migrated to the current schema with its rows",
          "[api][store]") {
    TempDb db;
    std::int64_t user = 0;
    {
        Store v1(db.path, 1, 1);
        user = *v1.create_user("old@b.cn", "Old", "hash");
        v1.add_balance(user, 250);
    }
    Store s(db.path);
    const auto u = s.user(user);
    REQUIRE(u);
    CHECK(u->account == "old@b.cn");
    CHECK(u->balance_cents == 250);
    CHECK(u->token_version == 0);
    s.update_user(user, std::nullopt, std::string("new-hash"));
    CHECK(s.user(user)->token_version == 1);
}

TEST_CASE("store — version 6 gives every row of a log its station, keeping rows and ids",
          "[api][store]") {
    TempDb db;
    const auto [user, car] = old_database(db.path, 5);
    const std::string u = std::to_string(user);
    const std::string c = std::to_string(car);
    for (const std::string& row :
         {"INSERT INTO orders(id, station_key, user_id, car_id, mode, number, number_text, state, "
          "apply_kwh, open, settled, log_pos) VALUES(7, 'run/0', " +
              u + ", " + c + ", 'T', 1, 'T1', 'FINISHED', 10, 0, 1, 3)",
          std::string("INSERT INTO bills(id, station_key, order_key, pile, start_ms, stop_ms, kwh, "
                      "hours, charge_fee, service_fee, reason, log_pos) VALUES(5, 'run/B0', "
                      "'run/0', 'T1', 0, 3600000, 10, 1, 7, 3, 'completed', 3)"),
          std::string("INSERT INTO pile_totals VALUES('T1', 1, 1, 10, 7, 3)"),
          "INSERT INTO settlements VALUES('run/0', " + u + ", 1000, 10)",
          std::string("INSERT INTO log_position(id, run, pos) VALUES(1, 'run', 3)")}) {
        harness::sql_value(db.path, row);
    }
    Store s(db.path);
    CHECK(s.log_position("").run == "run");
    CHECK(s.log_position("").pos == 3);
    CHECK(s.order_id_by_key("", "run/0") == 7);
    CHECK(s.order(7)->station.empty());
    CHECK(s.bills_of_order("", "run/0").size() == 1);
    CHECK(s.pile_totals("").at(0).second.charges == 1);

    // The same keys at another station are rows of their own; new ids follow the copied ones
    // (on PostgreSQL the identity's sequence was moved on), and it is settled once there.
    OrderRecord o = order("run/0", car, "FINISHED", 10, 10);
    o.station = "S2";
    o.log_pos = 1;
    const BillRecord b{0, "run/B0", "run/0", "T1",        0, 3600000, 10,
                       1, 600,      400,     "completed", 1, "S2"};
    REQUIRE(s.apply_changes("S2", {}, {"run", 1}, {o}, {b}));
    CHECK(s.order_id_by_key("S2", "run/0") > 7);
    CHECK(s.order_id_by_key("", "run/0") == 7);
    REQUIRE(s.bills_of_order("S2", "run/0").size() == 1);
    CHECK(s.bills_of_order("S2", "run/0").at(0).id > 5);
    CHECK(s.bills_of_order("S2", "run/0").at(0).station == "S2");
    CHECK(s.pile_totals("S2").at(0).second.charge_fee_cents == 600);
    CHECK(s.pile_totals("").at(0).second.charge_fee_cents == 700);
    CHECK(s.report("S2", "T1", 0, 86400000).charges == 1);
    CHECK(s.user(user)->balance_cents == -1000);  // the old row was settled before
    CHECK(s.log_position("").pos == 3);
    CHECK(s.log_position("S2").pos == 1);
    CHECK_FALSE(s.apply_changes("S2", {}, {"run", 2}, {}, {}));  // S2 is at 1 now
    CHECK_THROWS_AS(s.apply_changes("S3", {}, {"run", 1}, {o}, {}), std::invalid_argument);
    // Reopened: each station's position is read back.
    Store again(db.path);
    CHECK(again.log_position("S2").pos == 1);
    CHECK(again.log_position("").pos == 3);
}

TEST_CASE("store — a database newer than the program is refused", "[api][store]") {
    TempDb db;
    { Store s(db.path); }
    // Mark it as version 999 through the engine itself.
    harness::sql_value(db.path, harness::on_postgresql() ? "UPDATE schema_version SET version = 999"
                                                         : "PRAGMA user_version=999");
    CHECK_THROWS_AS(Store(db.path), std::runtime_error);
}

TEST_CASE("store — closing an order settles it exactly once", "[api][store]") {
    TempDb db;
    Store s(db.path);
    const auto user = *s.create_user("a@b.cn", "A", "hash");
    const auto car = s.add_car(user, "car", 60, 10);
    const auto id = s.record_order(order("run/0", car, "WAITING", 0, 0));
    REQUIRE(id);
    CHECK(s.open_order_of_car(car)->id == *id);
    CHECK(s.record_order(order("run/0", car, "CHARGING", 5, 6)) == id);
    CHECK(s.record_order(order("run/0", car, "FINISHED", 10, 12.345)) == id);
    CHECK(s.record_order(order("run/0", car, "FINISHED", 10, 12.345)) == id);  // a repeat
    CHECK(s.record_order(order("run/0", car, "CHARGING", 5, 6)) == id);        // late: ignored
    CHECK(s.user(user)->balance_cents == -1235);
    CHECK(s.car(car)->current_kwh == Approx(20));
    CHECK(s.order(*id)->state == "FINISHED");
    CHECK_FALSE(s.open_order_of_car(car));
    CHECK(s.orders_of(user, false).size() == 1);
    CHECK(s.orders_of(user, true).empty());
}

TEST_CASE("store — the balance is charged the fee as it is shown", "[api][store]") {
    TempDb db;
    Store s(db.path);
    const auto user = *s.create_user("a@b.cn", "A", "hash");
    const auto car = s.add_car(user, "car", 60, 10);
    // 12.3449995 is shown as 12.35 (contract::cents, half up with a relative tolerance);
    // a rule of its own once took 12.34 from the balance.
    const double fee = 12.3449995;
    REQUIRE(contract::cents(fee) == Approx(12.35));
    s.record_order(order("run/0", car, "FINISHED", 10, fee));
    CHECK(s.user(user)->balance_cents == -1235);
}

TEST_CASE("store — an order of an unknown car is not stored — an older state keeps the newer",
          "[api][store]") {
    TempDb db;
    Store s(db.path);
    CHECK_FALSE(s.record_order(order("run/1", 99, "WAITING", 0, 0)));
    const auto user = *s.create_user("a@b.cn", "A", "hash");
    const auto car = s.add_car(user, "car", 60, 0);
    auto charging = order("run/1", car, "CHARGING", 1, 1);
    charging.log_pos = 5;
    const auto id = s.record_order(charging);
    auto waiting = order("run/1", car, "WAITING", 0, 0);
    waiting.log_pos = 3;  // a reply that comes after the log brought a later change
    CHECK(s.record_order(waiting) == id);
    CHECK(s.order(*id)->state == "CHARGING");
}

TEST_CASE("store — version 8 keeps every fee in whole cents, without its binary fraction",
          "[api][store]") {
    TempDb db;
    const auto [user, car] = old_database(db.path, 7);
    const std::string u = std::to_string(user);
    const std::string c = std::to_string(car);
    // 0.29 and 1.15 are not binary fractions: times 100 they are 28.999... and 114.999...
    for (const std::string& row :
         {"INSERT INTO orders(station, station_key, user_id, car_id, mode, number, "
          "number_text, state, apply_kwh, charge_kwh, charge_fee, service_fee, open, settled, "
          "log_pos) VALUES('S1', 'run/0', " +
              u + ", " + c + ", 'T', 1, 'T1', 'FINISHED', 10, 1.5, 0.29, 1.15, 0, 1, 2)",
          std::string("INSERT INTO bills(station, station_key, order_key, pile, start_ms, "
                      "stop_ms, kwh, hours, charge_fee, service_fee, reason, log_pos) VALUES("
                      "'S1', 'run/B0', 'run/0', 'T1', 0, 3600000, 1.5, 1, 0.29, 1.15, "
                      "'completed', 1)"),
          std::string("INSERT INTO pile_totals VALUES('S1', 'T1', 3, 3, 4.5, 0.87, 3.45)")}) {
        harness::sql_value(db.path, row);
    }
    Store s(db.path);
    const auto o = s.order(*s.order_id_by_key("S1", "run/0"));
    REQUIRE(o);
    CHECK(o->charge_fee_cents == 29);
    CHECK(o->service_fee_cents == 115);
    const auto bills = s.bills_of_order("S1", "run/0");
    REQUIRE(bills.size() == 1);
    CHECK(bills[0].charge_fee_cents == 29);
    CHECK(bills[0].service_fee_cents == 115);
    const auto totals = s.pile_totals("S1");
    REQUIRE(totals.size() == 1);
    CHECK(totals[0].second.charge_fee_cents == 87);
    CHECK(totals[0].second.service_fee_cents == 345);

    // Sums stay exact: ten bills of 0.10 yuan are 1.00, not 0.999...
    for (int i = 1; i <= 10; ++i) {
        const std::string key = "run/B" + std::to_string(i);
        REQUIRE(s.record_bill(
            BillRecord{0, key, "run/1", "F1", 0, 60000, 0.1, 0.01, 10, 0, "completed", 0, "S1"}));
    }
    const Totals report = s.report("S1", "F1", 0, 86400000);
    CHECK(report.charges == 10);
    CHECK(report.charge_fee_cents == 100);
    CHECK(api::yuan(report.charge_fee_cents) == 1.0);
}

TEST_CASE("store — bills are stored once and pile totals are their sum", "[api][store]") {
    TempDb db;
    Store s(db.path);
    BillRecord b{0, "run/0", "run/0", "T1", 0, 3600000, 10, 1, 700, 800, "completed"};
    CHECK(s.record_bill(b));
    CHECK_FALSE(s.record_bill(b));
    b.station_key = "run/1";
    b.stop_ms = 90000000;  // the next day
    CHECK(s.record_bill(b));
    const auto totals = s.pile_totals("");
    REQUIRE(totals.size() == 1);
    CHECK(totals[0].first == "T1");
    CHECK(totals[0].second.charges == 2);
    CHECK(totals[0].second.kwh == Approx(20));
    CHECK(totals[0].second.charge_fee_cents == 1400);
    CHECK(s.report("", "T1", 0, 86400000).charges == 1);
    CHECK(s.report("", "T1", 0, 86400000 * 2).charge_fee_cents == 1400);
    CHECK(s.report("", "F1", 0, 86400000 * 2).charges == 0);
    CHECK(s.bills_of_order("", "run/0").size() == 2);
}

TEST_CASE("store — a cached user sees every change of its row", "[api][store]") {
    TempDb db;
    Store s(db.path);
    const auto user = *s.create_user("a@b.cn", "A", "hash");
    const auto car = s.add_car(user, "car", 60, 10);
    CHECK(s.user(user)->balance_cents == 0);  // now cached
    s.add_balance(user, 500);
    CHECK(s.user(user)->balance_cents == 500);
    s.update_user(user, std::string("B"), std::string("hash2"));
    CHECK(s.user(user)->name == "B");
    CHECK(s.user(user)->password_hash == "hash2");
    s.record_order(order("run/0", car, "FINISHED", 10, 3));
    CHECK(s.user(user)->balance_cents == 200);
    record_updates(s, {order("run/1", car, "CANCELLED", 1, 1)});
    CHECK(s.user(user)->balance_cents == 100);
}

TEST_CASE("store — cached order lists follow every write", "[api][store]") {
    TempDb db;
    Store s(db.path);
    const auto user = *s.create_user("a@b.cn", "A", "hash");
    const auto other = *s.create_user("b@b.cn", "B", "hash");
    const auto car = s.add_car(user, "car", 60, 10);
    const auto other_car = s.add_car(other, "car", 60, 10);
    CHECK(s.orders_of(user, true).empty());  // cached empty
    s.record_order(order("run/0", car, "WAITING", 0, 0));
    REQUIRE(s.orders_of(user, true).size() == 1);
    CHECK(s.orders_of(user, true)[0].state == "WAITING");
    record_updates(s, {order("run/0", car, "CHARGING", 1, 1)});
    CHECK(s.orders_of(user, true)[0].state == "CHARGING");
    CHECK(s.orders_of(other, true).empty());
    record_updates(
        s, {order("run/1", other_car, "WAITING", 0, 0), order("run/0", car, "FINISHED", 2, 2)});
    CHECK(s.orders_of(user, true).empty());
    CHECK(s.orders_of(user, false).size() == 1);
    CHECK(s.orders_of(other, true).size() == 1);
}

TEST_CASE("store — a burst of updates is one transaction with the same rules", "[api][store]") {
    TempDb db;
    Store s(db.path);
    const auto user = *s.create_user("a@b.cn", "A", "hash");
    const auto car = s.add_car(user, "car", 60, 10);
    const auto bills = s.bills_version();
    record_updates(
        s, {order("run/0", car, "WAITING", 0, 0), order("run/0", car, "CHARGING", 5, 6),
            BillRecord{0, "run/0", "run/0", "T1", 0, 3600000, 10, 1, 700, 800, "completed"},
            order("run/0", car, "FINISHED", 10, 15), order("run/0", car, "FINISHED", 10, 15)});
    const auto orders = s.orders_of(user, false);
    REQUIRE(orders.size() == 1);
    CHECK(orders[0].state == "FINISHED");
    CHECK(s.user(user)->balance_cents == -1500);  // settled once
    CHECK(s.bills_version() == bills + 1);
    CHECK(s.pile_totals("").at(0).second.charges == 1);
    // An order of a car that is not ours is skipped; the rest of the burst is stored.
    record_updates(s, {order("run/1", 999, "WAITING", 0, 0), order("run/2", car, "WAITING", 0, 0)});
    CHECK(s.orders_of(user, true).size() == 1);
}

TEST_CASE("store — a batch applies only at the stored position, and moves it", "[api][store]") {
    TempDb db;
    LogPosition reached;
    {
        Store s(db.path);
        const auto user = *s.create_user("a@b.cn", "A", "hash");
        const auto car = s.add_car(user, "car", 60, 10);
        CHECK(s.log_position("").pos == 0);
        CHECK(s.apply_changes("", {}, {"r1", 3}, {order("r1/0", car, "WAITING", 0, 0)}, {}));
        // Someone else's expectation of the position: nothing is written.
        CHECK_FALSE(s.apply_changes("", {}, {"r1", 9}, {order("r1/0", car, "FINISHED", 9, 9)}, {}));
        CHECK(s.orders_of(user, true).size() == 1);
        CHECK(s.user(user)->balance_cents == 0);
        reached = s.log_position("");
    }
    Store again(db.path);  // the position is durable, with the rows
    CHECK(again.log_position("").run == reached.run);
    CHECK(again.log_position("").pos == 3);
}

TEST_CASE("log — what a batch means against the applied position", "[api]") {
    contract::ChangeBatch b;
    b.run = "r1";
    b.from = 4;
    b.to = 7;
    CHECK(judge({"r1", 4}, b) == BatchVerdict::Apply);
    CHECK(judge({"r1", 5}, b) == BatchVerdict::Apply);  // overlaps: orders are as of `to`
    CHECK(judge({"r1", 7}, b) == BatchVerdict::Have);
    CHECK(judge({"r1", 9}, b) == BatchVerdict::Have);
    CHECK(judge({"r1", 3}, b) == BatchVerdict::Gap);
    CHECK(judge({"r0", 3}, b) == BatchVerdict::Gap);  // another run: from its start only
    b.from = 0;
    CHECK(judge({"r0", 3}, b) == BatchVerdict::Apply);
    CHECK(judge({}, b) == BatchVerdict::Apply);
}

TEST_CASE("log — order and bill changes become rows — impossible values are refused", "[api]") {
    const std::string batch = R"({"run":"s-1","from":4,"to":6,"more":false,
        "orders":[{"order":3,"car":"17","number":"F2","mode":"F","state":"CHARGING",
          "requested_kwh":20,"charged_kwh":1.5,"charge_fee":1.05,"service_fee":1.2,
          "front_cars":0,"pile":"F1","created_ms":1764050400000,"dispatched_ms":1764050460000,
          "started_ms":null,"closed_ms":null,"pos":6},
          {"order":4,"car":"V1","number":"T1","mode":"T","state":"WAITING",
          "requested_kwh":5,"charged_kwh":0,"charge_fee":0,"service_fee":0,
          "front_cars":2,"pile":"","created_ms":1764050400000,"dispatched_ms":null,
          "started_ms":null,"closed_ms":null,"pos":5}],
        "bills":[]})";
    contract::ChangeBatch b;
    REQUIRE(contract::parse(batch, b) == "");
    const BatchRows rows = rows_of("", b);
    REQUIRE(rows.orders.size() == 1);  // V1 is not one of the API's cars
    const OrderRecord& o = rows.orders[0];
    CHECK(o.station_key == "s-1/3");
    CHECK(o.car_id == 17);
    CHECK(o.number == 2);
    CHECK(o.dispatch_time == "2025-11-25 06:01:00");
    CHECK(o.start_time.empty());
    CHECK(o.log_pos == 6);
    auto refused = [&](const std::string& from, const std::string& to) {
        std::string text = batch;
        const auto at = text.find(from);
        REQUIRE(at != std::string::npos);
        text.replace(at, from.size(), to);
        contract::ChangeBatch out;
        return !contract::parse(text, out).empty();
    };
    CHECK(refused(R"("charge_fee":1.05)", R"("charge_fee":-5000)"));
    CHECK(refused(R"("charge_fee":1.05)", R"("charge_fee":1e308)"));
    CHECK(refused(R"("charge_fee":1.05)", R"("charge_fee":"1.05")"));
    CHECK(refused(R"("state":"CHARGING")", R"("state":"DONE")"));
    CHECK(refused(R"("pos":6})", R"("pos":9})"));  // outside (from, to]
    CHECK(refused(R"("to":6)", R"("to":5)"));      // the order at 6 lies outside
    CHECK(refused(R"("closed_ms":null,"pos":6)", R"("closed_ms":5,"pos":6)"));  // open, closed?
    CHECK(refused(R"("number":"F2")", R"("number":"T2")"));
    CHECK(refused(R"("charge_fee":1.05,)", ""));  // a missing field has no default
    contract::ChangeBatch out;
    CHECK_FALSE(contract::parse(std::string_view("not json"), out).empty());
    CHECK_FALSE(contract::parse(std::string_view("[]"), out).empty());
}

namespace {

// A station state with one pile charging order 1 and order 2 waiting, in the contract's shape.
json sample_state() {
    const char* car = R"({"order":1,"car":"7","number":"F1","mode":"F","state":"CHARGING",
        "requested_kwh":10,"charged_kwh":2,"remaining_kwh":8,"charge_fee":1.4,"service_fee":1.6,
        "fee":3,"queued_hours":0.2,"waited_hours":0.1,"front_cars":0})";
    json state = json::parse(R"({"at_ms":1000,"time":"t","revision":5,"run":"r","head":3,
        "profile":"p","piles":[{"id":"F1","name":"快充 1","mode":"F","power_kw":30,"state":"WORK",
        "totals":{"charges":1,"hours":0.5,"kwh":4,"charge_fee":2.8,"service_fee":3.2,
        "total_fee":6}}],"redispatch":[]})");
    state["piles"][0]["queue"] = json::array({json::parse(car)});
    json waiting = json::parse(car);
    waiting.update(json{{"order", 2},
                        {"car", "8"},
                        {"number", "F2"},
                        {"state", "WAITING"},
                        {"charged_kwh", 0},
                        {"remaining_kwh", 10},
                        {"front_cars", 0}});
    state["waiting"] = json::array({waiting});
    return state;
}

}  // namespace

TEST_CASE("station state — one typed mapping, impossible values refused", "[api]") {
    contract::StationState typed;
    REQUIRE(contract::parse_value(sample_state(), typed).empty());
    CHECK(typed.piles.at(0).queue.at(0).status == contract::OrderStatus::Charging);
    CHECK(typed.piles.at(0).state == station::PileState::Work);
    CHECK(typed.waiting.at(0).remaining_kwh == Approx(10));
    contract::StationState again;
    REQUIRE(contract::parse_value(contract::to_json_value(typed), again).empty());
    CHECK(again == typed);
    auto refused = [](const std::function<void(json&)>& spoil) {
        json j = sample_state();
        spoil(j);
        contract::StationState out;
        return !contract::parse_value(j, out).empty();
    };
    CHECK(refused([](json& j) { j["piles"][0]["queue"][0]["charge_fee"] = -5000; }));
    CHECK(refused([](json& j) { j["piles"][0]["queue"][0]["charge_fee"] = 1e308; }));
    CHECK(refused([](json& j) { j["piles"][0]["queue"][0]["state"] = "FINISHED"; }));
    CHECK(refused([](json& j) { j["piles"][0]["state"] = "BROKEN"; }));
    CHECK(refused([](json& j) { j["piles"][0]["power_kw"] = 0; }));
    CHECK(refused([](json& j) { j["waiting"][0].erase("front_cars"); }));  // no defaults
    CHECK(refused([](json& j) { j["waiting"][0]["number"] = "T2"; }));     // not its mode
    CHECK(refused([](json& j) { j["piles"][0]["totals"]["kwh"] = "4"; }));
    CHECK(refused([](json& j) { j.erase("head"); }));
    CHECK(refused([](json& j) { j["redispatch"] = json::object(); }));
    CHECK_FALSE(refused([](json&) {}));
    CHECK_FALSE(contract::parse(std::string_view("{"), typed).empty());
}

TEST_CASE("view — takes only newer states and indexes orders by place", "[api]") {
    StationView view;
    const json state = sample_state();
    CHECK(view.offer(state));
    auto snap = view.snapshot();
    CHECK(snap->orders.at(1).pile == "F1");
    CHECK(snap->orders.at(1).car.remaining_kwh == Approx(8));
    CHECK(snap->orders.at(2).car.status == contract::OrderStatus::Waiting);
    CHECK(snap->orders.at(2).pile.empty());
    json older = state;
    older["revision"] = 4;
    CHECK_FALSE(view.offer(older));
    CHECK_FALSE(view.offer(json::parse(R"({"at_ms":"x"})")));
    CHECK_FALSE(view.offer(json()));
    CHECK(view.snapshot()->state.revision == 5);
    json restarted = state;  // a new scheduler run, its clock started earlier
    restarted["run"] = "r2";
    restarted["at_ms"] = 10;
    restarted["revision"] = 0;
    CHECK(view.offer(restarted));
    CHECK(view.snapshot()->run() == "r2");
}

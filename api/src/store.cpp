#include "api/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "api/api_metrics.hpp"
#include "api/passwords.hpp"
#include "contract/station_state.hpp"
#include "postgresql_listener.hpp"
#include "sql_connection.hpp"

namespace api {

namespace {

// Schema migrations, in order; migration i brings the schema to version i + 1. Never edit
// a published one: add the next.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    account       TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    balance_cents INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE admins (
    id            INTEGER PRIMARY KEY,
    account       TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL
);
CREATE TABLE cars (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    capacity_kwh REAL NOT NULL CHECK (capacity_kwh > 0),
    current_kwh  REAL NOT NULL CHECK (current_kwh >= 0),
    deleted      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX cars_by_user ON cars(user_id);
CREATE TABLE orders (
    id            INTEGER PRIMARY KEY,
    station_key   TEXT NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    car_id        INTEGER NOT NULL REFERENCES cars(id),
    mode          TEXT NOT NULL CHECK (mode IN ('F', 'T')),
    number        INTEGER NOT NULL,
    number_text   TEXT NOT NULL,
    state         TEXT NOT NULL,
    apply_kwh     REAL NOT NULL,
    charge_kwh    REAL NOT NULL DEFAULT 0,
    charge_fee    REAL NOT NULL DEFAULT 0,
    service_fee   REAL NOT NULL DEFAULT 0,
    pile          TEXT NOT NULL DEFAULT '',
    create_time   TEXT NOT NULL DEFAULT '',
    dispatch_time TEXT NOT NULL DEFAULT '',
    start_time    TEXT NOT NULL DEFAULT '',
    finish_time   TEXT NOT NULL DEFAULT '',
    front_cars    INTEGER NOT NULL DEFAULT 0,
    open          INTEGER NOT NULL,
    settled       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX orders_by_user ON orders(user_id, open, id);
CREATE INDEX orders_by_car ON orders(car_id, open);
CREATE TABLE bills (
    id          INTEGER PRIMARY KEY,
    station_key TEXT NOT NULL UNIQUE,
    order_key   TEXT NOT NULL,
    pile        TEXT NOT NULL,
    start_ms    INTEGER NOT NULL,
    stop_ms     INTEGER NOT NULL,
    kwh         REAL NOT NULL,
    hours       REAL NOT NULL,
    charge_fee  REAL NOT NULL,
    service_fee REAL NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX bills_by_order ON bills(order_key);
CREATE INDEX bills_by_pile ON bills(pile, stop_ms);
CREATE TABLE pile_totals (
    pile        TEXT PRIMARY KEY,
    charges     INTEGER NOT NULL,
    hours       REAL NOT NULL,
    kwh         REAL NOT NULL,
    charge_fee  REAL NOT NULL,
    service_fee REAL NOT NULL
);
)sql",
    // 2: a password change ends the user's other sessions (tokens carry this version).
    R"sql(
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3: orders and bills are a projection of the scheduler's change log: each row keeps
    // the log position it was last written at, and the position applied so far is kept
    // with them, in the same transaction. Answers to requests with an Idempotency-Key.
    R"sql(
ALTER TABLE orders ADD COLUMN log_pos INTEGER NOT NULL DEFAULT 0;
ALTER TABLE bills ADD COLUMN log_pos INTEGER NOT NULL DEFAULT 0;
CREATE TABLE log_position (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    run TEXT NOT NULL,
    pos INTEGER NOT NULL CHECK (pos >= 0)
);
-- An order's settlement (its fee from the balance, its energy into the car) happens once
-- per order, whatever happens to the orders table: replaying the log into emptied tables
-- rebuilds them without charging anyone twice.
CREATE TABLE settlements (
    station_key TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL,
    fee_cents   INTEGER NOT NULL,
    kwh         REAL NOT NULL
);
INSERT INTO settlements(station_key, user_id, fee_cents, kwh)
    SELECT station_key, user_id, CAST(ROUND((charge_fee + service_fee) * 100) AS INTEGER), charge_kwh
    FROM orders WHERE settled = 1;
CREATE TABLE idempotency (
    user_id    INTEGER NOT NULL REFERENCES users(id),
    key        TEXT NOT NULL,
    request    TEXT NOT NULL,
    status     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
)sql",
    // 4: accounts are e-mail addresses, matched without regard to case. (Not unique
    // indexes: an older database may hold two accounts that differ only in case; the
    // oldest one is the one found, and no new such pair can be made.)
    R"sql(
CREATE INDEX users_by_account_nocase ON users(account COLLATE NOCASE);
CREATE INDEX admins_by_account_nocase ON admins(account COLLATE NOCASE);
)sql",
    // 5: accounts are matched by lower(), which SQLite and PostgreSQL share (COLLATE NOCASE
    // is SQLite's own); both lower() only ASCII letters here as NOCASE did.
    R"sql(
DROP INDEX users_by_account_nocase;
DROP INDEX admins_by_account_nocase;
CREATE INDEX users_by_account_lower ON users(lower(account));
CREATE INDEX admins_by_account_lower ON admins(lower(account));
)sql",
    // 6: one API serves many stations: the rows copied from a scheduler's log (orders,
    // bills, pile totals, settlements) and the log's position name their station, and a
    // station's keys are unique within it. '' is the station of an API that follows one
    // scheduler on its own topics (every row before this version). The tables are made
    // anew (SQLite cannot drop a UNIQUE constraint), keeping their ids.
    R"sql(
CREATE TABLE orders_v6 (
    id            INTEGER PRIMARY KEY,
    station       TEXT NOT NULL,
    station_key   TEXT NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    car_id        INTEGER NOT NULL REFERENCES cars(id),
    mode          TEXT NOT NULL CHECK (mode IN ('F', 'T')),
    number        INTEGER NOT NULL,
    number_text   TEXT NOT NULL,
    state         TEXT NOT NULL,
    apply_kwh     REAL NOT NULL,
    charge_kwh    REAL NOT NULL DEFAULT 0,
    charge_fee    REAL NOT NULL DEFAULT 0,
    service_fee   REAL NOT NULL DEFAULT 0,
    pile          TEXT NOT NULL DEFAULT '',
    create_time   TEXT NOT NULL DEFAULT '',
    dispatch_time TEXT NOT NULL DEFAULT '',
    start_time    TEXT NOT NULL DEFAULT '',
    finish_time   TEXT NOT NULL DEFAULT '',
    front_cars    INTEGER NOT NULL DEFAULT 0,
    open          INTEGER NOT NULL,
    settled       INTEGER NOT NULL DEFAULT 0,
    log_pos       INTEGER NOT NULL DEFAULT 0,
    UNIQUE (station, station_key)
);
INSERT INTO orders_v6(id, station, station_key, user_id, car_id, mode, number, number_text,
    state, apply_kwh, charge_kwh, charge_fee, service_fee, pile, create_time, dispatch_time,
    start_time, finish_time, front_cars, open, settled, log_pos)
    SELECT id, '', station_key, user_id, car_id, mode, number, number_text, state, apply_kwh,
    charge_kwh, charge_fee, service_fee, pile, create_time, dispatch_time, start_time,
    finish_time, front_cars, open, settled, log_pos FROM orders;
DROP TABLE orders;
ALTER TABLE orders_v6 RENAME TO orders;
CREATE INDEX orders_by_user ON orders(user_id, open, id);
CREATE INDEX orders_by_car ON orders(car_id, open);
--postgresql: SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM orders), false);
CREATE TABLE bills_v6 (
    id          INTEGER PRIMARY KEY,
    station     TEXT NOT NULL,
    station_key TEXT NOT NULL,
    order_key   TEXT NOT NULL,
    pile        TEXT NOT NULL,
    start_ms    INTEGER NOT NULL,
    stop_ms     INTEGER NOT NULL,
    kwh         REAL NOT NULL,
    hours       REAL NOT NULL,
    charge_fee  REAL NOT NULL,
    service_fee REAL NOT NULL,
    reason      TEXT NOT NULL,
    log_pos     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (station, station_key)
);
INSERT INTO bills_v6(id, station, station_key, order_key, pile, start_ms, stop_ms, kwh, hours,
    charge_fee, service_fee, reason, log_pos)
    SELECT id, '', station_key, order_key, pile, start_ms, stop_ms, kwh, hours, charge_fee,
    service_fee, reason, log_pos FROM bills;
DROP TABLE bills;
ALTER TABLE bills_v6 RENAME TO bills;
CREATE INDEX bills_by_order ON bills(station, order_key);
CREATE INDEX bills_by_pile ON bills(station, pile, stop_ms);
--postgresql: SELECT setval(pg_get_serial_sequence('bills', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM bills), false);
CREATE TABLE pile_totals_v6 (
    station     TEXT NOT NULL,
    pile        TEXT NOT NULL,
    charges     INTEGER NOT NULL,
    hours       REAL NOT NULL,
    kwh         REAL NOT NULL,
    charge_fee  REAL NOT NULL,
    service_fee REAL NOT NULL,
    PRIMARY KEY (station, pile)
);
INSERT INTO pile_totals_v6(station, pile, charges, hours, kwh, charge_fee, service_fee)
    SELECT '', pile, charges, hours, kwh, charge_fee, service_fee FROM pile_totals;
DROP TABLE pile_totals;
ALTER TABLE pile_totals_v6 RENAME TO pile_totals;
CREATE TABLE settlements_v6 (
    station     TEXT NOT NULL,
    station_key TEXT NOT NULL,
    user_id     INTEGER NOT NULL,
    fee_cents   INTEGER NOT NULL,
    kwh         REAL NOT NULL,
    PRIMARY KEY (station, station_key)
);
INSERT INTO settlements_v6(station, station_key, user_id, fee_cents, kwh)
    SELECT '', station_key, user_id, fee_cents, kwh FROM settlements;
DROP TABLE settlements;
ALTER TABLE settlements_v6 RENAME TO settlements;
CREATE TABLE log_position_v6 (
    station TEXT PRIMARY KEY,
    run     TEXT NOT NULL,
    pos     INTEGER NOT NULL CHECK (pos >= 0)
);
INSERT INTO log_position_v6(station, run, pos) SELECT '', run, pos FROM log_position;
DROP TABLE log_position;
ALTER TABLE log_position_v6 RENAME TO log_position;
)sql",
    // 7: one open order per car across stations (api/car_claims.hpp): a request that may
    // give a car an open order claims it for its station before the scheduler is asked.
    R"sql(
CREATE TABLE car_claims (
    car_id     INTEGER NOT NULL REFERENCES cars(id),
    station    TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (car_id)
);
)sql",
    // 8: money in whole cents (api/money.hpp): the fees of orders, bills and pile totals
    // become integer columns. Every stored fee was rounded to cents already, so ROUND only
    // takes off the binary fraction.
    R"sql(
ALTER TABLE orders ADD COLUMN charge_fee_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN service_fee_cents INTEGER NOT NULL DEFAULT 0;
UPDATE orders SET charge_fee_cents = CAST(ROUND(charge_fee * 100) AS INTEGER),
    service_fee_cents = CAST(ROUND(service_fee * 100) AS INTEGER);
ALTER TABLE orders DROP COLUMN charge_fee;
ALTER TABLE orders DROP COLUMN service_fee;
ALTER TABLE bills ADD COLUMN charge_fee_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE bills ADD COLUMN service_fee_cents INTEGER NOT NULL DEFAULT 0;
UPDATE bills SET charge_fee_cents = CAST(ROUND(charge_fee * 100) AS INTEGER),
    service_fee_cents = CAST(ROUND(service_fee * 100) AS INTEGER);
ALTER TABLE bills DROP COLUMN charge_fee;
ALTER TABLE bills DROP COLUMN service_fee;
ALTER TABLE pile_totals ADD COLUMN charge_fee_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pile_totals ADD COLUMN service_fee_cents INTEGER NOT NULL DEFAULT 0;
UPDATE pile_totals SET charge_fee_cents = CAST(ROUND(charge_fee * 100) AS INTEGER),
    service_fee_cents = CAST(ROUND(service_fee * 100) AS INTEGER);
ALTER TABLE pile_totals DROP COLUMN charge_fee;
ALTER TABLE pile_totals DROP COLUMN service_fee;
)sql",
};

constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));
// The PostgreSQL channel on which the instances sharing a database announce their writes.
// pg_notify sends at the commit of the transaction it runs in.
constexpr const char* kNoticeChannel = "evcs_api_cache";
constexpr const char* kNotify = "SELECT pg_notify('evcs_api_cache', ?)";

// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
template <typename F>
auto transaction(sql::Connection& c, F&& body) {
    c.begin();
    try {
        if constexpr (std::is_void_v<decltype(body())>) {
            body();
            c.commit();
        } else {
            auto result = body();
            c.commit();
            return result;
        }
    } catch (...) {
        c.rollback();
        throw;
    }
}

// The columns the records are read from, in the order of the *_from functions below.
#define USER_COLUMNS "id, account, name, password_hash, balance_cents, token_version"
#define ADMIN_COLUMNS "id, account, password_hash"
#define CAR_COLUMNS "id, user_id, name, capacity_kwh, current_kwh"
#define ORDER_COLUMNS                                                                     \
    "id, station_key, user_id, car_id, mode, number, number_text, state, apply_kwh, "     \
    "charge_kwh, charge_fee_cents, service_fee_cents, pile, create_time, dispatch_time, " \
    "start_time, finish_time, front_cars, log_pos, station"
#define BILL_COLUMNS                                                                      \
    "id, station_key, order_key, pile, start_ms, stop_ms, kwh, hours, charge_fee_cents, " \
    "service_fee_cents, reason, log_pos, station"
#define TOTALS_COLUMNS "charges, hours, kwh, charge_fee_cents, service_fee_cents"

UserRecord user_from(const sql::Rows& r) {
    return UserRecord{r.integer(0), r.text(1), r.text(2), r.text(3), r.integer(4), r.integer(5)};
}
AdminRecord admin_from(const sql::Rows& r) {
    return AdminRecord{r.integer(0), r.text(1), r.text(2)};
}
CarRecord car_from(const sql::Rows& r) {
    return CarRecord{r.integer(0), r.integer(1), r.text(2), r.real(3), r.real(4)};
}
OrderRecord order_from(const sql::Rows& r) {
    OrderRecord o;
    o.id = r.integer(0);
    o.station_key = r.text(1);
    o.user_id = r.integer(2);
    o.car_id = r.integer(3);
    o.mode = r.text(4);
    o.number = r.integer(5);
    o.number_text = r.text(6);
    o.state = r.text(7);
    o.apply_kwh = r.real(8);
    o.charge_kwh = r.real(9);
    o.charge_fee_cents = r.integer(10);
    o.service_fee_cents = r.integer(11);
    o.pile = r.text(12);
    o.create_time = r.text(13);
    o.dispatch_time = r.text(14);
    o.start_time = r.text(15);
    o.finish_time = r.text(16);
    o.front_cars = r.integer(17);
    o.log_pos = r.integer(18);
    o.station = r.text(19);
    return o;
}
BillRecord bill_from(const sql::Rows& r) {
    BillRecord b;
    b.id = r.integer(0);
    b.station_key = r.text(1);
    b.order_key = r.text(2);
    b.pile = r.text(3);
    b.start_ms = r.integer(4);
    b.stop_ms = r.integer(5);
    b.kwh = r.real(6);
    b.hours = r.real(7);
    b.charge_fee_cents = r.integer(8);
    b.service_fee_cents = r.integer(9);
    b.reason = r.text(10);
    b.log_pos = r.integer(11);
    b.station = r.text(12);
    return b;
}
// From column `at` on.
Totals totals_from(const sql::Rows& r, int at = 0) {
    return Totals{r.integer(at), r.real(at + 1), r.real(at + 2), r.integer(at + 3),
                  r.integer(at + 4)};
}
LogPosition position_from(const sql::Rows& r) {
    return LogPosition{r.text(0), r.integer(1)};
}

// Every row, mapped.
template <typename Map>
auto all(sql::Rows rows, Map map) {
    std::vector<decltype(map(rows))> out;
    while (rows.next()) {
        out.push_back(map(rows));
    }
    return out;
}

// The first row, mapped, if there is one.
template <typename Map>
auto first(sql::Rows rows, Map map) -> std::optional<decltype(map(rows))> {
    if (!rows.next()) {
        return std::nullopt;
    }
    return map(rows);
}

// In a transaction: the station's stored position, locked until the commit where the
// engine has row locks (PostgreSQL, where several API instances may apply the log);
// SQLite's writer already holds the whole database.
std::optional<LogPosition> stored_position_for_update(sql::Connection& c,
                                                      const std::string& station) {
    if (c.dialect() == sql::Dialect::postgresql) {
        return first(
            c.query("SELECT run, pos FROM log_position WHERE station = ? FOR UPDATE", station),
            position_from);
    }
    return first(c.query("SELECT run, pos FROM log_position WHERE station = ?", station),
                 position_from);
}

// The database holds the token key and the password hashes: only its owner may read it.
// It is created (or tightened) 0600 before SQLite opens it; SQLite gives its -wal and
// -shm files the database file's mode, also ones an older run left (test_store_files).
void make_private(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ::fchmod(fd, 0600) != 0) {
        const std::string reason = std::strerror(errno);
        if (fd >= 0) {
            ::close(fd);
        }
        throw std::runtime_error("cannot make the database " + path + " private: " + reason);
    }
    ::close(fd);
}

}  // namespace

Store::Store(const std::string& location, int readers, int schema) {
    const bool file = !sql::is_postgresql(location);
    if (file) {
        make_private(location);
    }
    writer_ = sql::open_connection(location, sql::Role::writer);
    migrate(schema < 0 ? kSchemaVersion : std::min(schema, kSchemaVersion));
    if (schema < 0 || schema >= kSchemaVersion) {
        sql::Rows rows = writer_->query("SELECT station, run, pos FROM log_position");
        while (rows.next()) {
            positions_[rows.text(0)] = LogPosition{rows.text(1), rows.integer(2)};
        }
    }
    // The log's copy need not wait for the disk: a power cut can lose only its last
    // transactions, rows and position together, and the catch-up brings them back from the
    // scheduler's journal (the next FULL commit on this WAL makes them durable anyway).
    // Everything that is not in the log (accounts, cars, recharges) stays synchronous=FULL.
    // A connection of its own, so the setting is not switched back and forth per batch.
    log_writer_ = sql::open_connection(location, sql::Role::log_writer);
    for (int i = 0; i < std::max(1, readers); ++i) {
        auto r = std::make_unique<Reader>();
        r->connection = sql::open_connection(location, sql::Role::reader);
        readers_.push_back(std::move(r));
    }
    if (!file) {
        // Other API instances may share this database: their writes are heard here.
        shared_ = true;
        instance_ = random_hex(8);
        listener_ = std::make_unique<sql::Listener>(location, kNoticeChannel,
                                                    [this](std::string_view w) { on_notice(w); });
    }
}

template <typename F>
auto Store::read(F&& query) {
    // Each thread keeps to one reader, so threads spread over the pool without a search.
    static std::atomic<std::size_t> next_thread{0};
    thread_local const std::size_t ticket = next_thread++;
    Reader& r = *readers_[ticket % readers_.size()];
    std::lock_guard lock(r.mutex);
    return query(*r.connection);
}

Store::~Store() = default;

int Store::schema_version() {
    return kSchemaVersion;
}

void Store::migrate(int target) {
    const int version = writer_->schema_version();
    if (version > kSchemaVersion) {
        throw std::runtime_error("the database has schema version " + std::to_string(version) +
                                 ", newer than this program's " + std::to_string(kSchemaVersion));
    }
    for (int v = version; v < target; ++v) {
        writer_->migrate(kMigrations[v], v + 1);
    }
}

// ---- settings ------------------------------------------------------------------------

std::string Store::setting_or_insert(const std::string& key, const std::string& value) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    c.exec("INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT DO NOTHING", key, value);
    return *first(c.query("SELECT value FROM settings WHERE key = ?", key),
                  [](const sql::Rows& r) { return r.text(0); });
}

// ---- accounts ------------------------------------------------------------------------

std::optional<std::int64_t> Store::create_user(const std::string& account, const std::string& name,
                                               const std::string& password_hash) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    return transaction(c, [&]() -> std::optional<std::int64_t> {
        lock_account(c, account);
        if (c.query("SELECT 1 FROM users WHERE lower(account) = lower(?) LIMIT 1", account)
                .next()) {
            return std::nullopt;
        }
        return first(c.query("INSERT INTO users(account, name, password_hash) VALUES(?, ?, ?) "
                             "RETURNING id",
                             account, name, password_hash),
                     [](const sql::Rows& r) { return r.integer(0); });
    });
}

std::optional<UserRecord> Store::user(std::int64_t id) {
    return users_.get_or_load(id, [&] {
        return read([&](sql::Connection& c) {
            return first(c.query("SELECT " USER_COLUMNS " FROM users WHERE id = ?", id), user_from);
        });
    });
}

std::optional<UserRecord> Store::user_by_account(const std::string& account) {
    return read([&](sql::Connection& c) {
        return first(c.query("SELECT " USER_COLUMNS
                             " FROM users WHERE lower(account) = lower(?) ORDER BY id LIMIT 1",
                             account),
                     user_from);
    });
}

void Store::update_user(std::int64_t id, const std::optional<std::string>& name,
                        const std::optional<std::string>& password_hash) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    transaction(c, [&] {
        if (name) {
            c.exec("UPDATE users SET name = ? WHERE id = ?", *name, id);
        }
        if (password_hash) {
            c.exec(
                "UPDATE users SET password_hash = ?, token_version = token_version + 1 "
                "WHERE id = ?",
                *password_hash, id);
        }
        announce(c, "u:" + std::to_string(id));
    });
    users_.forget(id);
}

std::int64_t Store::add_balance(std::int64_t user_id, std::int64_t cents) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    const auto balance = transaction(c, [&] {
        c.exec("UPDATE users SET balance_cents = balance_cents + ? WHERE id = ?", cents, user_id);
        announce(c, "u:" + std::to_string(user_id));
        const auto now = first(c.query("SELECT balance_cents FROM users WHERE id = ?", user_id),
                               [](const sql::Rows& r) { return r.integer(0); });
        if (!now) {
            throw std::invalid_argument("no user " + std::to_string(user_id));
        }
        return *now;
    });
    users_.forget(user_id);
    return balance;
}

bool Store::ensure_admin(const std::string& account, const std::string& password_hash) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    return transaction(c, [&] {
        lock_account(c, account);
        if (c.query("SELECT 1 FROM admins WHERE lower(account) = lower(?) LIMIT 1", account)
                .next()) {
            return false;
        }
        c.exec("INSERT INTO admins(account, password_hash) VALUES(?, ?)", account, password_hash);
        return true;
    });
}

std::optional<AdminRecord> Store::admin(std::int64_t id) {
    // Admin rows are only ever inserted, so a found one never goes stale.
    return admins_.get_or_load(id, [&] {
        return read([&](sql::Connection& c) {
            return first(c.query("SELECT " ADMIN_COLUMNS " FROM admins WHERE id = ?", id),
                         admin_from);
        });
    });
}

std::optional<AdminRecord> Store::admin_by_account(const std::string& account) {
    return read([&](sql::Connection& c) {
        return first(c.query("SELECT " ADMIN_COLUMNS
                             " FROM admins WHERE lower(account) = lower(?) ORDER BY id LIMIT 1",
                             account),
                     admin_from);
    });
}

// ---- cars ----------------------------------------------------------------------------

std::int64_t Store::add_car(std::int64_t user_id, const std::string& name, double capacity,
                            double current) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    const auto id = transaction(c, [&] {
        announce(c, "c");
        return *first(c.query("INSERT INTO cars(user_id, name, capacity_kwh, current_kwh) "
                              "VALUES(?, ?, ?, ?) RETURNING id",
                              user_id, name, capacity, current),
                      [](const sql::Rows& r) { return r.integer(0); });
    });
    ++cars_version_;
    return id;
}

std::optional<CarRecord> Store::car(std::int64_t id) {
    return read([&](sql::Connection& c) {
        return first(c.query("SELECT " CAR_COLUMNS " FROM cars WHERE id = ? AND deleted = 0", id),
                     car_from);
    });
}

std::vector<CarRecord> Store::cars_of(std::int64_t user_id) {
    return read([&](sql::Connection& c) {
        return all(c.query("SELECT " CAR_COLUMNS
                           " FROM cars WHERE user_id = ? AND deleted = 0 ORDER BY id",
                           user_id),
                   car_from);
    });
}

void Store::update_car(const CarRecord& car) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    transaction(c, [&] {
        c.exec("UPDATE cars SET name = ?, capacity_kwh = ?, current_kwh = ? WHERE id = ?", car.name,
               car.capacity_kwh, car.current_kwh, car.id);
        announce(c, "c");
    });
    ++cars_version_;
}

void Store::delete_car(std::int64_t id) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    transaction(c, [&] {
        c.exec("UPDATE cars SET deleted = 1 WHERE id = ?", id);
        announce(c, "c");
    });
    ++cars_version_;
}

// ---- orders and bills ------------------------------------------------------------------

std::optional<std::int64_t> Store::record_order(const OrderRecord& o) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    touched_users_.clear();
    new_orders_ = new_bills_ = new_billed_cents_ = 0;
    const auto stored = transaction(c, [&] {
        auto id = write_order(c, o);
        announce_writes(c, id.has_value() && o.closed());
        return id;
    });
    if (stored && o.closed()) {
        ++cars_version_;  // the car's charge grew
    }
    forget_touched_users();
    count_new_rows();
    return stored;
}

bool Store::apply_changes(const std::string& station, const LogPosition& expected,
                          const LogPosition& next, const std::vector<OrderRecord>& orders,
                          const std::vector<BillRecord>& bills) {
    const auto other = [&](const auto& row) { return row.station != station; };
    if (std::any_of(orders.begin(), orders.end(), other) ||
        std::any_of(bills.begin(), bills.end(), other)) {
        throw std::invalid_argument("a row of another station in the log of '" + station + "'");
    }
    std::lock_guard lock(mutex_);
    sql::Connection& c = *log_writer_;
    bool closed = false;
    touched_users_.clear();
    new_orders_ = new_bills_ = new_billed_cents_ = 0;
    std::optional<LogPosition> moved;
    const bool applied = transaction(c, [&] {
        const LogPosition stored = stored_position_for_update(c, station).value_or(LogPosition{});
        if (stored.run != expected.run || stored.pos != expected.pos) {
            moved = stored;  // another writer of this database moved it
            return false;
        }
        // Bills first: a reader that sees an order closed sees its bills.
        for (const BillRecord& b : bills) {
            write_bill(c, b);
        }
        for (const OrderRecord& o : orders) {
            closed = write_order(c, o).has_value() && o.closed() ? true : closed;
        }
        c.exec(
            "INSERT INTO log_position(station, run, pos) VALUES(?, ?, ?) "
            "ON CONFLICT(station) DO UPDATE SET run = excluded.run, pos = excluded.pos",
            station, next.run, next.pos);
        announce_writes(c, closed);
        return true;
    });
    if (applied || moved) {
        // The caller asks again from the position the database holds, whoever wrote it.
        std::lock_guard position_lock(position_mutex_);
        positions_[station] = applied ? next : *moved;
    }
    if (closed) {
        ++cars_version_;
    }
    forget_touched_users();
    if (applied) {
        count_new_rows();
        if (metrics_ != nullptr) {
            // The positions it moved on: from the run's start for a new run.
            metrics_->log_applied(station, next.pos,
                                  next.run == expected.run ? next.pos - expected.pos : next.pos);
        }
    } else if (moved) {
        // Another instance applied changes this one has not seen: orders, bills, balances
        // and cars it holds in memory may be older than the database.
        forget_all_cached();
        if (metrics_ != nullptr) {
            metrics_->log_applied(station, moved->pos, 0);
        }
    }
    if (applied && !bills.empty()) {
        ++bills_version_;
    }
    return applied;
}

LogPosition Store::log_position(const std::string& station) const {
    std::lock_guard lock(position_mutex_);
    const auto at = positions_.find(station);
    return at == positions_.end() ? LogPosition{} : at->second;
}

bool Store::has_station(const std::string& station) {
    return read([&](sql::Connection& c) {
        return c
            .query(
                "SELECT 1 FROM log_position WHERE station = ? UNION ALL "
                "SELECT 1 FROM orders WHERE station = ? UNION ALL "
                "SELECT 1 FROM bills WHERE station = ? LIMIT 1",
                station, station, station)
            .next();
    });
}

void Store::adopt_station(const std::string& from, const std::string& to) {
    if (from == to) {
        throw std::invalid_argument("a station cannot adopt its own rows");
    }
    std::lock_guard lock(mutex_);
    sql::Connection& c = *log_writer_;
    transaction(c, [&] {
        // The position row first, locked where the engine locks rows: an instance applying
        // `from`'s log meanwhile finds its position gone and asks again.
        stored_position_for_update(c, from);
        for (const char* table :
             {"log_position", "orders", "bills", "pile_totals", "settlements"}) {
            const std::string taken =
                "SELECT 1 FROM " + std::string(table) + " WHERE station = ? LIMIT 1";
            if (c.query(taken.c_str(), to).next()) {
                throw std::invalid_argument("station '" + to + "' already has rows in " + table);
            }
        }
        for (const char* table :
             {"log_position", "orders", "bills", "pile_totals", "settlements"}) {
            const std::string move =
                "UPDATE " + std::string(table) + " SET station = ? WHERE station = ?";
            c.exec(move.c_str(), to, from);
        }
        announce(c, "*");
    });
    {
        std::lock_guard position_lock(position_mutex_);
        if (const auto at = positions_.find(from); at != positions_.end()) {
            positions_[to] = at->second;
            positions_.erase(from);
        }
    }
    forget_all_cached();
}

StoredAnswer Store::reserve_answer(std::int64_t user_id, const std::string& key,
                                   const std::string& request, std::int64_t now_ms) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    std::optional<StoredAnswer> kept;
    transaction(c, [&] {
        // Answers are kept for a day; older ones go as new ones come.
        c.exec("DELETE FROM idempotency WHERE created_ms < ?", now_ms - 24LL * 3600 * 1000);
        c.exec(
            "INSERT INTO idempotency(user_id, key, request, status, body, created_ms) "
            "VALUES(?, ?, ?, 0, '', ?) ON CONFLICT DO NOTHING",
            user_id, key, request, now_ms);
        kept = first(
            c.query("SELECT request, status, body FROM idempotency WHERE user_id = ? AND key = ?",
                    user_id, key),
            [](const sql::Rows& r) {
                return StoredAnswer{r.text(0), static_cast<int>(r.integer(1)), r.text(2)};
            });
    });
    return kept.value_or(StoredAnswer{request, 0, ""});
}

void Store::keep_answer(std::int64_t user_id, const std::string& key, const StoredAnswer& answer,
                        std::int64_t now_ms) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    transaction(c, [&] {
        // The first final answer stays; it replaces the key's pending row of this request.
        c.exec(
            "INSERT INTO idempotency(user_id, key, request, status, body, created_ms) "
            "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, key) DO UPDATE SET "
            "status = excluded.status, body = excluded.body "
            "WHERE idempotency.status = 0 AND idempotency.request = excluded.request",
            user_id, key, answer.request, answer.status, answer.body, now_ms);
    });
}

CarClaim Store::claim_car(const CarClaim& claim) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    std::optional<CarClaim> held;
    transaction(c, [&] {
        c.exec(
            "INSERT INTO car_claims(car_id, station, expires_ms) VALUES(?, ?, ?) "
            "ON CONFLICT (car_id) DO UPDATE SET expires_ms = excluded.expires_ms "
            "WHERE car_claims.station = excluded.station "
            "AND car_claims.expires_ms < excluded.expires_ms",
            claim.car_id, claim.station, claim.expires_ms);
        held = first(
            c.query("SELECT station, expires_ms FROM car_claims WHERE car_id = ?", claim.car_id),
            [&](const sql::Rows& r) {
                return CarClaim{claim.car_id, r.text(0), r.integer(1)};
            });
    });
    return held.value_or(claim);
}

bool Store::take_over_claim(const CarClaim& held, const CarClaim& mine) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    int changed = 0;
    transaction(c, [&] {
        changed = c.exec(
            "UPDATE car_claims SET station = ?, expires_ms = ? "
            "WHERE car_id = ? AND station = ? AND expires_ms = ?",
            mine.station, mine.expires_ms, held.car_id, held.station, held.expires_ms);
    });
    return changed == 1;
}

void Store::set_metrics(ApiMetrics* metrics) {
    std::lock_guard lock(mutex_);
    metrics_ = metrics;
    if (metrics_ != nullptr) {
        std::lock_guard position_lock(position_mutex_);
        for (const auto& [station, position] : positions_) {
            metrics_->log_applied(station, position.pos, 0);
        }
    }
}

void Store::count_new_rows() {
    if (metrics_ != nullptr) {
        metrics_->recorded(new_orders_, new_bills_, new_billed_cents_);
    }
    new_orders_ = new_bills_ = new_billed_cents_ = 0;
}

void Store::lock_account(sql::Connection& c, const std::string& account) {
    if (shared_) {
        // Until the transaction ends. Unique indexes cannot do it: an older database may
        // hold two accounts that differ only in case (migration 4).
        c.query("SELECT pg_advisory_xact_lock(hashtext(lower(?)))", account).run();
    }
}

void Store::announce(sql::Connection& c, const std::string& what) {
    if (shared_) {
        c.query(kNotify, instance_ + "|" + what).run();
    }
}

void Store::announce_writes(sql::Connection& c, bool closed) {
    if (!shared_) {
        return;
    }
    for (const std::int64_t user : touched_users_) {
        announce(c, "u:" + std::to_string(user));
    }
    if (closed) {
        announce(c, "c");
    }
    if (new_bills_ > 0) {
        announce(c, "b");
    }
}

void Store::on_notice(std::string_view notice) {
    if (notice == "*") {
        forget_all_cached();  // notices may have been missed
        return;
    }
    const auto bar = notice.find('|');
    if (bar != std::string_view::npos && notice.substr(0, bar) == instance_) {
        return;  // this store's own write: forgotten when it was made
    }
    const std::string_view what = bar == std::string_view::npos ? "" : notice.substr(bar + 1);
    if (what == "c") {
        ++cars_version_;
        return;
    }
    if (what == "b") {
        ++bills_version_;
        return;
    }
    if (what.substr(0, 2) == "u:") {
        std::int64_t user = 0;
        const auto digits = what.substr(2);
        const auto [end, error] =
            std::from_chars(digits.data(), digits.data() + digits.size(), user);
        if (error == std::errc() && end == digits.data() + digits.size()) {
            users_.forget(user);
            orders_.forget(user * 2);
            orders_.forget(user * 2 + 1);
            return;
        }
    }
    forget_all_cached();  // not understood: forget too much rather than too little
}

void Store::forget_all_cached() {
    users_.forget_all();
    admins_.forget_all();
    orders_.forget_all();
    ++cars_version_;
    ++bills_version_;
}

void Store::forget_touched_users() {
    for (const std::int64_t user : touched_users_) {
        users_.forget(user);  // the balance changes when an order closes
        orders_.forget(user * 2);
        orders_.forget(user * 2 + 1);
    }
    touched_users_.clear();
}

std::optional<std::int64_t> Store::write_order(sql::Connection& c, const OrderRecord& o) {
    struct Existing {
        std::int64_t id, open, user_id, log_pos;
    };
    const auto existing =
        first(c.query("SELECT id, open, user_id, log_pos FROM orders "
                      "WHERE station = ? AND station_key = ?",
                      o.station, o.station_key),
              [](const sql::Rows& r) {
                  return Existing{r.integer(0), r.integer(1), r.integer(2), r.integer(3)};
              });
    const std::int64_t open = o.closed() ? 0 : 1;
    std::int64_t id = 0;
    std::int64_t user_id = 0;
    if (!existing) {
        const auto owner = first(c.query("SELECT user_id FROM cars WHERE id = ?", o.car_id),
                                 [](const sql::Rows& r) { return r.integer(0); });
        if (!owner) {
            return std::nullopt;
        }
        user_id = *owner;
        id = *first(
            c.query("INSERT INTO orders(station, station_key, user_id, car_id, mode, number, "
                    "number_text, state, apply_kwh, charge_kwh, charge_fee_cents, "
                    "service_fee_cents, pile, create_time, dispatch_time, start_time, "
                    "finish_time, front_cars, open, log_pos) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING id",
                    o.station, o.station_key, user_id, o.car_id, o.mode, o.number, o.number_text,
                    o.state, o.apply_kwh, o.charge_kwh, o.charge_fee_cents, o.service_fee_cents,
                    o.pile, o.create_time, o.dispatch_time, o.start_time, o.finish_time,
                    o.front_cars, open, o.log_pos),
            [](const sql::Rows& r) { return r.integer(0); });
        touched_users_.push_back(user_id);
        ++new_orders_;
    } else {
        id = existing->id;
        user_id = existing->user_id;
        if (existing->open == 0 || o.log_pos < existing->log_pos) {
            // Closed is final, and a state older than the stored one (a reply that
            // comes after the log brought a later change) changes nothing.
            return id;
        }
        touched_users_.push_back(user_id);
        c.exec(
            "UPDATE orders SET mode = ?, number = ?, number_text = ?, state = ?, apply_kwh = ?, "
            "charge_kwh = ?, charge_fee_cents = ?, service_fee_cents = ?, pile = ?, "
            "dispatch_time = ?, "
            "start_time = ?, finish_time = ?, front_cars = ?, open = ?, log_pos = ? WHERE id = ?",
            o.mode, o.number, o.number_text, o.state, o.apply_kwh, o.charge_kwh, o.charge_fee_cents,
            o.service_fee_cents, o.pile, o.dispatch_time, o.start_time, o.finish_time, o.front_cars,
            open, o.log_pos, id);
    }
    if (o.closed()) {
        const Cents fee = o.charge_fee_cents + o.service_fee_cents;
        const int settled_now = c.exec(
            "INSERT INTO settlements(station, station_key, user_id, fee_cents, kwh) "
            "VALUES(?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            o.station, o.station_key, user_id, fee, o.charge_kwh);
        if (settled_now > 0) {
            c.exec("UPDATE users SET balance_cents = balance_cents - ? WHERE id = ?", fee, user_id);
            c.exec(
                "UPDATE cars SET current_kwh = CASE WHEN current_kwh + ? > capacity_kwh "
                "THEN capacity_kwh ELSE current_kwh + ? END WHERE id = ?",
                o.charge_kwh, o.charge_kwh, o.car_id);
        }
        c.exec("UPDATE orders SET settled = 1 WHERE id = ?", id);
    }
    return id;
}

std::optional<OrderRecord> Store::order(std::int64_t id) {
    return read([&](sql::Connection& c) {
        return first(c.query("SELECT " ORDER_COLUMNS " FROM orders WHERE id = ?", id), order_from);
    });
}

std::optional<std::int64_t> Store::order_id_by_key(const std::string& station,
                                                   const std::string& station_key) {
    return read([&](sql::Connection& c) {
        return first(c.query("SELECT id FROM orders WHERE station = ? AND station_key = ?", station,
                             station_key),
                     [](const sql::Rows& r) { return r.integer(0); });
    });
}

std::vector<OrderRecord> Store::orders_of(std::int64_t user_id, bool open) {
    const std::int64_t key = user_id * 2 + (open ? 1 : 0);
    return *orders_.get_or_load(key, [&] {
        return std::optional(read([&](sql::Connection& c) {
            return all(c.query("SELECT " ORDER_COLUMNS
                               " FROM orders WHERE user_id = ? AND open = ? ORDER BY id DESC",
                               user_id, open ? 1 : 0),
                       order_from);
        }));
    });
}

std::optional<OrderRecord> Store::open_order_of_car(std::int64_t car_id) {
    return read([&](sql::Connection& c) {
        return first(c.query("SELECT " ORDER_COLUMNS
                             " FROM orders WHERE car_id = ? AND open = 1 ORDER BY id DESC LIMIT 1",
                             car_id),
                     order_from);
    });
}

bool Store::record_bill(const BillRecord& b) {
    std::lock_guard lock(mutex_);
    sql::Connection& c = *writer_;
    new_orders_ = new_bills_ = new_billed_cents_ = 0;
    const bool added = transaction(c, [&] {
        const bool is_new = write_bill(c, b);
        announce_writes(c, false);
        return is_new;
    });
    if (added) {
        ++bills_version_;
    }
    count_new_rows();
    return added;
}

bool Store::write_bill(sql::Connection& c, const BillRecord& b) {
    const int added = c.exec(
        "INSERT INTO bills(station, station_key, order_key, pile, start_ms, stop_ms, kwh, hours, "
        "charge_fee_cents, service_fee_cents, reason, log_pos) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        b.station, b.station_key, b.order_key, b.pile, b.start_ms, b.stop_ms, b.kwh, b.hours,
        b.charge_fee_cents, b.service_fee_cents, b.reason, b.log_pos);
    if (added == 0) {
        return false;
    }
    ++new_bills_;
    new_billed_cents_ += b.charge_fee_cents + b.service_fee_cents;
    c.exec(
        "INSERT INTO pile_totals(station, pile, charges, hours, kwh, charge_fee_cents, "
        "service_fee_cents) "
        "VALUES(?, ?, 1, ?, ?, ?, ?) "
        "ON CONFLICT(station, pile) DO UPDATE SET charges = pile_totals.charges + 1, "
        "hours = pile_totals.hours + excluded.hours, kwh = pile_totals.kwh + excluded.kwh, "
        "charge_fee_cents = pile_totals.charge_fee_cents + excluded.charge_fee_cents, "
        "service_fee_cents = pile_totals.service_fee_cents + excluded.service_fee_cents",
        b.station, b.pile, b.hours, b.kwh, b.charge_fee_cents, b.service_fee_cents);
    return true;
}

std::vector<BillRecord> Store::bills_of_order(const std::string& station,
                                              const std::string& order_key) {
    return read([&](sql::Connection& c) {
        return all(c.query("SELECT " BILL_COLUMNS
                           " FROM bills WHERE station = ? AND order_key = ? ORDER BY start_ms, id",
                           station, order_key),
                   bill_from);
    });
}

std::vector<std::pair<std::string, Totals>> Store::pile_totals(const std::string& station) {
    return read([&](sql::Connection& c) {
        return all(c.query("SELECT pile, " TOTALS_COLUMNS
                           " FROM pile_totals WHERE station = ? ORDER BY pile",
                           station),
                   [](const sql::Rows& r) { return std::make_pair(r.text(0), totals_from(r, 1)); });
    });
}

Totals Store::report(const std::string& station, const std::string& pile, std::int64_t from_ms,
                     std::int64_t to_ms) {
    return read([&](sql::Connection& c) {
        return *first(c.query("SELECT COUNT(*), COALESCE(SUM(hours), 0), COALESCE(SUM(kwh), 0), "
                              "CAST(COALESCE(SUM(charge_fee_cents), 0) AS BIGINT), "
                              "CAST(COALESCE(SUM(service_fee_cents), 0) AS BIGINT) "
                              "FROM bills WHERE station = ? AND pile = ? AND stop_ms >= ? "
                              "AND stop_ms < ?",
                              station, pile, from_ms, to_ms),
                      [](const sql::Rows& r) { return totals_from(r); });
    });
}

}  // namespace api

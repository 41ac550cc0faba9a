#include "api/store.hpp"

#include <Poco/Data/RecordSet.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "contract/station_state.hpp"

namespace api {

using namespace Poco::Data::Keywords;
using Poco::Data::RecordSet;
using Poco::Data::Session;
using Poco::Data::Statement;

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
};

constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
template <typename F>
auto transaction(Session& s, F&& body) {
    s.begin();
    try {
        if constexpr (std::is_void_v<decltype(body())>) {
            body();
            s.commit();
        } else {
            auto result = body();
            s.commit();
            return result;
        }
    } catch (...) {
        s.rollback();
        throw;
    }
}

std::int64_t last_id(Session& s) {
    Poco::Int64 id = 0;
    s << "SELECT last_insert_rowid()", into(id), now;
    return id;
}

std::string text(RecordSet& rs, const char* col) {
    const auto& v = rs[col];
    return v.isEmpty() ? std::string() : v.convert<std::string>();
}
std::int64_t integer(RecordSet& rs, const char* col) {
    const auto& v = rs[col];
    return v.isEmpty() ? 0 : v.convert<Poco::Int64>();
}
double real(RecordSet& rs, const char* col) {
    const auto& v = rs[col];
    return v.isEmpty() ? 0.0 : v.convert<double>();
}

UserRecord user_from(RecordSet& rs) {
    return UserRecord{
        integer(rs, "id"),         text(rs, "account"),          text(rs, "name"),
        text(rs, "password_hash"), integer(rs, "balance_cents"), integer(rs, "token_version")};
}
CarRecord car_from(RecordSet& rs) {
    return CarRecord{integer(rs, "id"), integer(rs, "user_id"), text(rs, "name"),
                     real(rs, "capacity_kwh"), real(rs, "current_kwh")};
}
OrderRecord order_from(RecordSet& rs) {
    OrderRecord o;
    o.id = integer(rs, "id");
    o.station_key = text(rs, "station_key");
    o.user_id = integer(rs, "user_id");
    o.car_id = integer(rs, "car_id");
    o.mode = text(rs, "mode");
    o.number = integer(rs, "number");
    o.number_text = text(rs, "number_text");
    o.state = text(rs, "state");
    o.apply_kwh = real(rs, "apply_kwh");
    o.charge_kwh = real(rs, "charge_kwh");
    o.charge_fee = real(rs, "charge_fee");
    o.service_fee = real(rs, "service_fee");
    o.pile = text(rs, "pile");
    o.create_time = text(rs, "create_time");
    o.dispatch_time = text(rs, "dispatch_time");
    o.start_time = text(rs, "start_time");
    o.finish_time = text(rs, "finish_time");
    o.front_cars = integer(rs, "front_cars");
    o.log_pos = integer(rs, "log_pos");
    return o;
}
BillRecord bill_from(RecordSet& rs) {
    BillRecord b;
    b.id = integer(rs, "id");
    b.station_key = text(rs, "station_key");
    b.order_key = text(rs, "order_key");
    b.pile = text(rs, "pile");
    b.start_ms = integer(rs, "start_ms");
    b.stop_ms = integer(rs, "stop_ms");
    b.kwh = real(rs, "kwh");
    b.hours = real(rs, "hours");
    b.charge_fee = real(rs, "charge_fee");
    b.service_fee = real(rs, "service_fee");
    b.reason = text(rs, "reason");
    b.log_pos = integer(rs, "log_pos");
    return b;
}
Totals totals_from(RecordSet& rs) {
    return Totals{integer(rs, "charges"), real(rs, "hours"), real(rs, "kwh"),
                  real(rs, "charge_fee"), real(rs, "service_fee")};
}

// Runs a query and maps each row.
template <typename T, typename Map>
std::vector<T> rows(Statement& st, Map map) {
    st.execute();
    RecordSet rs(st);
    std::vector<T> out;
    for (bool more = rs.moveFirst(); more; more = rs.moveNext()) {
        out.push_back(map(rs));
    }
    return out;
}

template <typename T, typename Map>
std::optional<T> first(Statement& st, Map map) {
    auto all = rows<T>(st, map);
    if (all.empty()) {
        return std::nullopt;
    }
    return std::move(all.front());
}

// Whole cents by the rounding the fee is shown with (contract::cents), so that what is
// taken from the balance is what the order shows.
std::int64_t to_cents(double yuan) {
    return std::llround(contract::cents(yuan) * 100.0);
}

}  // namespace

namespace {

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

std::unique_ptr<Session> open_connection(const std::string& path, bool read_only) {
    auto session = std::make_unique<Session>("SQLite", path);
    Session& s = *session;
    std::string mode;
    s << "PRAGMA journal_mode=WAL", into(mode), now;
    s << "PRAGMA foreign_keys=ON", now;
    s << "PRAGMA synchronous=FULL", now;
    s << "PRAGMA busy_timeout=5000", now;
    if (read_only) {
        s << "PRAGMA query_only=ON", now;
    }
    return session;
}

}  // namespace

Store::Store(const std::string& path, int readers, int schema) {
    Poco::Data::SQLite::Connector::registerConnector();
    make_private(path);
    writer_ = open_connection(path, false);
    migrate(schema < 0 ? kSchemaVersion : std::min(schema, kSchemaVersion));
    if (schema < 0 || schema >= 3) {
        Statement st(*writer_);
        st << "SELECT run, pos FROM log_position WHERE id = 1";
        if (auto row = first<LogPosition>(st, [](RecordSet& rs) {
                return LogPosition{text(rs, "run"), integer(rs, "pos")};
            })) {
            position_ = std::move(*row);
        }
    }
    // The log's copy need not wait for the disk: a power cut can lose only its last
    // transactions, rows and position together, and the catch-up brings them back from the
    // scheduler's journal (the next FULL commit on this WAL makes them durable anyway).
    // Everything that is not in the log (accounts, cars, recharges) stays synchronous=FULL.
    // A connection of its own, so the setting is not switched back and forth per batch.
    log_writer_ = open_connection(path, false);
    *log_writer_ << "PRAGMA synchronous=NORMAL", now;
    for (int i = 0; i < std::max(1, readers); ++i) {
        auto r = std::make_unique<Reader>();
        r->session = open_connection(path, true);
        readers_.push_back(std::move(r));
    }
}

template <typename F>
auto Store::read(F&& query) {
    // Each thread keeps to one reader, so threads spread over the pool without a search.
    static std::atomic<std::size_t> next_thread{0};
    thread_local const std::size_t ticket = next_thread++;
    Reader& r = *readers_[ticket % readers_.size()];
    std::lock_guard lock(r.mutex);
    return query(*r.session);
}

Store::~Store() = default;

int Store::schema_version() {
    return kSchemaVersion;
}

void Store::migrate(int target) {
    Session& s = *writer_;
    int version = 0;
    s << "PRAGMA user_version", into(version), now;
    if (version > kSchemaVersion) {
        throw std::runtime_error("the database has schema version " + std::to_string(version) +
                                 ", newer than this program's " + std::to_string(kSchemaVersion));
    }
    for (int v = version; v < target; ++v) {
        transaction(s, [&] {
            // POCO runs one SQL statement per execution: split the migration on ';'.
            const std::string sql = kMigrations[v];
            std::size_t from = 0;
            while (from < sql.size()) {
                std::size_t end = sql.find(';', from);
                if (end == std::string::npos) {
                    end = sql.size();
                }
                const std::string one = sql.substr(from, end - from);
                if (one.find_first_not_of(" \n\t") != std::string::npos) {
                    s << one, now;
                }
                from = end + 1;
            }
            s << "PRAGMA user_version=" + std::to_string(v + 1), now;
        });
    }
}

// ---- settings ------------------------------------------------------------------------

std::string Store::setting_or_insert(const std::string& key, const std::string& value) {
    std::lock_guard lock(mutex_);
    *writer_ << "INSERT OR IGNORE INTO settings(key, value) VALUES(?, ?)", bind(key), bind(value),
        now;
    Statement st(*writer_);
    st << "SELECT value FROM settings WHERE key = ?", bind(key);
    return *first<std::string>(st, [](RecordSet& rs) { return text(rs, "value"); });
}

// ---- accounts ------------------------------------------------------------------------

std::optional<std::int64_t> Store::create_user(const std::string& account, const std::string& name,
                                               const std::string& password_hash) {
    std::lock_guard lock(mutex_);
    Session& s = *writer_;
    return transaction(s, [&]() -> std::optional<std::int64_t> {
        int taken = 0;
        s << "SELECT COUNT(*) FROM users WHERE account = ? COLLATE NOCASE", bind(account),
            into(taken), now;
        if (taken > 0) {
            return std::nullopt;
        }
        s << "INSERT INTO users(account, name, password_hash) VALUES(?, ?, ?)", bind(account),
            bind(name), bind(password_hash), now;
        return last_id(s);
    });
}

std::optional<UserRecord> Store::user(std::int64_t id) {
    return users_.get_or_load(id, [&] {
        return read([&](Session& session) {
            Statement st(session);
            st << "SELECT * FROM users WHERE id = ?", bind(static_cast<Poco::Int64>(id));
            return first<UserRecord>(st, user_from);
        });
    });
}

std::optional<UserRecord> Store::user_by_account(const std::string& account) {
    return read([&](Session& session) {
        Statement st(session);
        st << "SELECT * FROM users WHERE account = ? COLLATE NOCASE ORDER BY id LIMIT 1",
            bind(account);
        return first<UserRecord>(st, user_from);
    });
}

void Store::update_user(std::int64_t id, const std::optional<std::string>& name,
                        const std::optional<std::string>& password_hash) {
    std::lock_guard lock(mutex_);
    Session& s = *writer_;
    transaction(s, [&] {
        if (name) {
            s << "UPDATE users SET name = ? WHERE id = ?", bind(*name),
                bind(static_cast<Poco::Int64>(id)), now;
        }
        if (password_hash) {
            s << "UPDATE users SET password_hash = ?, token_version = token_version + 1 WHERE id = "
                 "?",
                bind(*password_hash), bind(static_cast<Poco::Int64>(id)), now;
        }
    });
    users_.forget(id);
}

std::int64_t Store::add_balance(std::int64_t user_id, std::int64_t cents) {
    std::lock_guard lock(mutex_);
    Session& s = *writer_;
    const auto balance = transaction(s, [&] {
        s << "UPDATE users SET balance_cents = balance_cents + ? WHERE id = ?",
            bind(static_cast<Poco::Int64>(cents)), bind(static_cast<Poco::Int64>(user_id)), now;
        Poco::Int64 after = 0;
        s << "SELECT balance_cents FROM users WHERE id = ?",
            bind(static_cast<Poco::Int64>(user_id)), into(after), now;
        return static_cast<std::int64_t>(after);
    });
    users_.forget(user_id);
    return balance;
}

bool Store::ensure_admin(const std::string& account, const std::string& password_hash) {
    std::lock_guard lock(mutex_);
    Session& s = *writer_;
    return transaction(s, [&] {
        int taken = 0;
        s << "SELECT COUNT(*) FROM admins WHERE account = ? COLLATE NOCASE", bind(account),
            into(taken), now;
        if (taken > 0) {
            return false;
        }
        s << "INSERT INTO admins(account, password_hash) VALUES(?, ?)", bind(account),
            bind(password_hash), now;
        return true;
    });
}

std::optional<AdminRecord> Store::admin(std::int64_t id) {
    // Admin rows are only ever inserted, so a found one never goes stale.
    return admins_.get_or_load(id, [&] {
        return read([&](Session& session) {
            Statement st(session);
            st << "SELECT * FROM admins WHERE id = ?", bind(static_cast<Poco::Int64>(id));
            return first<AdminRecord>(st, [](RecordSet& rs) {
                return AdminRecord{integer(rs, "id"), text(rs, "account"),
                                   text(rs, "password_hash")};
            });
        });
    });
}

std::optional<AdminRecord> Store::admin_by_account(const std::string& account) {
    return read([&](Session& session) {
        Statement st(session);
        st << "SELECT * FROM admins WHERE account = ? COLLATE NOCASE ORDER BY id LIMIT 1",
            bind(account);
        return first<AdminRecord>(st, [](RecordSet& rs) {
            return AdminRecord{integer(rs, "id"), text(rs, "account"), text(rs, "password_hash")};
        });
    });
}

// ---- cars ----------------------------------------------------------------------------

std::int64_t Store::add_car(std::int64_t user_id, const std::string& name, double capacity,
                            double current) {
    std::lock_guard lock(mutex_);
    Session& s = *writer_;
    const auto id = transaction(s, [&] {
        s << "INSERT INTO cars(user_id, name, capacity_kwh, current_kwh) VALUES(?, ?, ?, ?)",
            bind(static_cast<Poco::Int64>(user_id)), bind(name), bind(capacity), bind(current), now;
        return last_id(s);
    });
    ++cars_version_;
    return id;
}

std::optional<CarRecord> Store::car(std::int64_t id) {
    return read([&](Session& session) {
        Statement st(session);
        st << "SELECT * FROM cars WHERE id = ? AND deleted = 0", bind(static_cast<Poco::Int64>(id));
        return first<CarRecord>(st, car_from);
    });
}

std::vector<CarRecord> Store::cars_of(std::int64_t user_id) {
    return read([&](Session& session) {
        Statement st(session);
        st << "SELECT * FROM cars WHERE user_id = ? AND deleted = 0 ORDER BY id",
            bind(static_cast<Poco::Int64>(user_id));
        return rows<CarRecord>(st, car_from);
    });
}

void Store::update_car(const CarRecord& car) {
    std::lock_guard lock(mutex_);
    *writer_ << "UPDATE cars SET name = ?, capacity_kwh = ?, current_kwh = ? WHERE id = ?",
        bind(car.name), bind(car.capacity_kwh), bind(car.current_kwh),
        bind(static_cast<Poco::Int64>(car.id)), now;
    ++cars_version_;
}

void Store::delete_car(std::int64_t id) {
    std::lock_guard lock(mutex_);
    *writer_ << "UPDATE cars SET deleted = 1 WHERE id = ?", bind(static_cast<Poco::Int64>(id)), now;
    ++cars_version_;
}

// ---- orders and bills ------------------------------------------------------------------

std::optional<std::int64_t> Store::record_order(const OrderRecord& o) {
    std::lock_guard lock(mutex_);
    Session& s = *writer_;
    touched_users_.clear();
    const auto stored = transaction(s, [&] { return write_order(s, o); });
    if (stored && o.closed()) {
        ++cars_version_;  // the car's charge grew
    }
    forget_touched_users();
    return stored;
}

bool Store::apply_changes(const LogPosition& expected, const LogPosition& next,
                          const std::vector<OrderRecord>& orders,
                          const std::vector<BillRecord>& bills) {
    std::lock_guard lock(mutex_);
    Session& s = *log_writer_;
    bool closed = false;
    touched_users_.clear();
    const bool applied = transaction(s, [&] {
        LogPosition stored;
        {
            Statement st(s);
            st << "SELECT run, pos FROM log_position WHERE id = 1";
            if (auto row = first<LogPosition>(st, [](RecordSet& rs) {
                    return LogPosition{text(rs, "run"), integer(rs, "pos")};
                })) {
                stored = std::move(*row);
            }
        }
        if (stored.run != expected.run || stored.pos != expected.pos) {
            return false;  // someone else moved it: the caller asks again
        }
        // Bills first: a reader that sees an order closed sees its bills.
        for (const BillRecord& b : bills) {
            write_bill(s, b);
        }
        for (const OrderRecord& o : orders) {
            closed = write_order(s, o).has_value() && o.closed() ? true : closed;
        }
        s << "INSERT INTO log_position(id, run, pos) VALUES(1, ?, ?) "
             "ON CONFLICT(id) DO UPDATE SET run = excluded.run, pos = excluded.pos",
            bind(next.run), bind(static_cast<Poco::Int64>(next.pos)), now;
        return true;
    });
    if (applied) {
        std::lock_guard position_lock(position_mutex_);
        position_ = next;
    }
    if (closed) {
        ++cars_version_;
    }
    forget_touched_users();
    if (applied && !bills.empty()) {
        ++bills_version_;
    }
    return applied;
}

LogPosition Store::log_position() const {
    std::lock_guard lock(position_mutex_);
    return position_;
}

std::optional<StoredAnswer> Store::idempotent_answer(std::int64_t user_id, const std::string& key) {
    return read([&](Session& session) {
        Statement st(session);
        st << "SELECT request, status, body FROM idempotency WHERE user_id = ? AND key = ?",
            bind(static_cast<Poco::Int64>(user_id)), bind(key);
        return first<StoredAnswer>(st, [](RecordSet& rs) {
            return StoredAnswer{text(rs, "request"), static_cast<int>(integer(rs, "status")),
                                text(rs, "body")};
        });
    });
}

void Store::keep_answer(std::int64_t user_id, const std::string& key, const StoredAnswer& answer,
                        std::int64_t now_ms) {
    std::lock_guard lock(mutex_);
    Session& s = *writer_;
    transaction(s, [&] {
        // Answers are kept for a day; older ones go as new ones come.
        s << "DELETE FROM idempotency WHERE created_ms < ?",
            bind(static_cast<Poco::Int64>(now_ms - 24LL * 3600 * 1000)), now;
        s << "INSERT OR IGNORE INTO idempotency(user_id, key, request, status, body, created_ms) "
             "VALUES(?, ?, ?, ?, ?, ?)",
            bind(static_cast<Poco::Int64>(user_id)), bind(key), bind(answer.request),
            bind(answer.status), bind(answer.body), bind(static_cast<Poco::Int64>(now_ms)), now;
    });
}

void Store::forget_touched_users() {
    for (const std::int64_t user : touched_users_) {
        users_.forget(user);  // the balance changes when an order closes
        orders_.forget(user * 2);
        orders_.forget(user * 2 + 1);
    }
    touched_users_.clear();
}

std::optional<std::int64_t> Store::write_order(Session& s, const OrderRecord& o) {
    {
        Statement find(s);
        find << "SELECT id, open, settled, user_id, log_pos FROM orders WHERE station_key = ?",
            bind(o.station_key);
        struct Existing {
            std::int64_t id, open, settled, user_id, log_pos;
        };
        const auto existing = first<Existing>(find, [](RecordSet& rs) {
            return Existing{integer(rs, "id"), integer(rs, "open"), integer(rs, "settled"),
                            integer(rs, "user_id"), integer(rs, "log_pos")};
        });
        const Poco::Int64 open = o.closed() ? 0 : 1;
        std::int64_t id = 0;
        std::int64_t user_id = 0;
        if (!existing) {
            Statement owner(s);
            owner << "SELECT user_id FROM cars WHERE id = ?",
                bind(static_cast<Poco::Int64>(o.car_id));
            const auto uid =
                first<std::int64_t>(owner, [](RecordSet& rs) { return integer(rs, "user_id"); });
            if (!uid) {
                return std::nullopt;
            }
            user_id = *uid;
            s << "INSERT INTO orders(station_key, user_id, car_id, mode, number, number_text, "
                 "state, apply_kwh, "
                 "charge_kwh, charge_fee, service_fee, pile, create_time, dispatch_time, "
                 "start_time, finish_time, "
                 "front_cars, open, log_pos) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                 "?, ?, "
                 "?, ?)",
                bind(o.station_key), bind(static_cast<Poco::Int64>(user_id)),
                bind(static_cast<Poco::Int64>(o.car_id)), bind(o.mode),
                bind(static_cast<Poco::Int64>(o.number)), bind(o.number_text), bind(o.state),
                bind(o.apply_kwh), bind(o.charge_kwh), bind(o.charge_fee), bind(o.service_fee),
                bind(o.pile), bind(o.create_time), bind(o.dispatch_time), bind(o.start_time),
                bind(o.finish_time), bind(static_cast<Poco::Int64>(o.front_cars)), bind(open),
                bind(static_cast<Poco::Int64>(o.log_pos)), now;
            id = last_id(s);
            touched_users_.push_back(user_id);
        } else {
            id = existing->id;
            user_id = existing->user_id;
            if (existing->open == 0 || o.log_pos < existing->log_pos) {
                // Closed is final, and a state older than the stored one (a reply that
                // comes after the log brought a later change) changes nothing.
                return id;
            }
            touched_users_.push_back(user_id);
            s << "UPDATE orders SET mode = ?, number = ?, number_text = ?, state = ?, apply_kwh = "
                 "?, "
                 "charge_kwh = ?, charge_fee = ?, service_fee = ?, pile = ?, dispatch_time = ?, "
                 "start_time = ?, "
                 "finish_time = ?, front_cars = ?, open = ?, log_pos = ? WHERE id = ?",
                bind(o.mode), bind(static_cast<Poco::Int64>(o.number)), bind(o.number_text),
                bind(o.state), bind(o.apply_kwh), bind(o.charge_kwh), bind(o.charge_fee),
                bind(o.service_fee), bind(o.pile), bind(o.dispatch_time), bind(o.start_time),
                bind(o.finish_time), bind(static_cast<Poco::Int64>(o.front_cars)), bind(open),
                bind(static_cast<Poco::Int64>(o.log_pos)), bind(static_cast<Poco::Int64>(id)), now;
        }
        if (o.closed()) {
            const auto fee = static_cast<Poco::Int64>(to_cents(o.charge_fee + o.service_fee));
            s << "INSERT OR IGNORE INTO settlements(station_key, user_id, fee_cents, kwh) "
                 "VALUES(?, ?, ?, ?)",
                bind(o.station_key), bind(static_cast<Poco::Int64>(user_id)), bind(fee),
                bind(o.charge_kwh), now;
            int settled_now = 0;
            s << "SELECT changes()", into(settled_now), now;
            if (settled_now > 0) {
                s << "UPDATE users SET balance_cents = balance_cents - ? WHERE id = ?", bind(fee),
                    bind(static_cast<Poco::Int64>(user_id)), now;
                s << "UPDATE cars SET current_kwh = MIN(capacity_kwh, current_kwh + ?) WHERE id = "
                     "?",
                    bind(o.charge_kwh), bind(static_cast<Poco::Int64>(o.car_id)), now;
            }
            s << "UPDATE orders SET settled = 1 WHERE id = ?", bind(static_cast<Poco::Int64>(id)),
                now;
        }
        return id;
    }
}

std::optional<OrderRecord> Store::order(std::int64_t id) {
    return read([&](Session& session) {
        Statement st(session);
        st << "SELECT * FROM orders WHERE id = ?", bind(static_cast<Poco::Int64>(id));
        return first<OrderRecord>(st, order_from);
    });
}

std::optional<std::int64_t> Store::order_id_by_key(const std::string& station_key) {
    return read([&](Session& session) {
        Statement st(session);
        st << "SELECT id FROM orders WHERE station_key = ?", bind(station_key);
        return first<std::int64_t>(st, [](RecordSet& rs) { return integer(rs, "id"); });
    });
}

std::vector<OrderRecord> Store::orders_of(std::int64_t user_id, bool open) {
    const std::int64_t key = user_id * 2 + (open ? 1 : 0);
    return *orders_.get_or_load(key, [&] {
        return std::optional(read([&](Session& session) {
            Statement st(session);
            st << "SELECT * FROM orders WHERE user_id = ? AND open = ? ORDER BY id DESC",
                bind(static_cast<Poco::Int64>(user_id)),
                bind(static_cast<Poco::Int64>(open ? 1 : 0));
            return rows<OrderRecord>(st, order_from);
        }));
    });
}

std::optional<OrderRecord> Store::open_order_of_car(std::int64_t car_id) {
    return read([&](Session& session) {
        Statement st(session);
        st << "SELECT * FROM orders WHERE car_id = ? AND open = 1 ORDER BY id DESC LIMIT 1",
            bind(static_cast<Poco::Int64>(car_id));
        return first<OrderRecord>(st, order_from);
    });
}

bool Store::record_bill(const BillRecord& b) {
    std::lock_guard lock(mutex_);
    const bool added = transaction(*writer_, [&] { return write_bill(*writer_, b); });
    if (added) {
        ++bills_version_;
    }
    return added;
}

bool Store::write_bill(Session& s, const BillRecord& b) {
    {
        s << "INSERT OR IGNORE INTO bills(station_key, order_key, pile, start_ms, stop_ms, kwh, "
             "hours, charge_fee, "
             "service_fee, reason, log_pos) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            bind(b.station_key), bind(b.order_key), bind(b.pile),
            bind(static_cast<Poco::Int64>(b.start_ms)), bind(static_cast<Poco::Int64>(b.stop_ms)),
            bind(b.kwh), bind(b.hours), bind(b.charge_fee), bind(b.service_fee), bind(b.reason),
            bind(static_cast<Poco::Int64>(b.log_pos)), now;
        int changed = 0;
        s << "SELECT changes()", into(changed), now;
        if (changed == 0) {
            return false;
        }
        s << "INSERT INTO pile_totals(pile, charges, hours, kwh, charge_fee, service_fee) "
             "VALUES(?, 1, ?, ?, ?, ?) "
             "ON CONFLICT(pile) DO UPDATE SET charges = charges + 1, hours = hours + "
             "excluded.hours, "
             "kwh = kwh + excluded.kwh, charge_fee = charge_fee + excluded.charge_fee, "
             "service_fee = service_fee + excluded.service_fee",
            bind(b.pile), bind(b.hours), bind(b.kwh), bind(b.charge_fee), bind(b.service_fee), now;
        return true;
    }
}

std::vector<BillRecord> Store::bills_of_order(const std::string& order_key) {
    return read([&](Session& session) {
        Statement st(session);
        st << "SELECT * FROM bills WHERE order_key = ? ORDER BY start_ms, id", bind(order_key);
        return rows<BillRecord>(st, bill_from);
    });
}

std::vector<std::pair<std::string, Totals>> Store::pile_totals() {
    return read([&](Session& session) {
        Statement st(session);
        st << "SELECT * FROM pile_totals ORDER BY pile";
        return rows<std::pair<std::string, Totals>>(
            st, [](RecordSet& rs) { return std::make_pair(text(rs, "pile"), totals_from(rs)); });
    });
}

Totals Store::report(const std::string& pile, std::int64_t from_ms, std::int64_t to_ms) {
    return read([&](Session& session) {
        Statement st(session);
        st << "SELECT COUNT(*) AS charges, TOTAL(hours) AS hours, TOTAL(kwh) AS kwh, "
              "TOTAL(charge_fee) AS charge_fee, "
              "TOTAL(service_fee) AS service_fee FROM bills WHERE pile = ? AND stop_ms >= ? AND "
              "stop_ms < ?",
            bind(pile), bind(static_cast<Poco::Int64>(from_ms)),
            bind(static_cast<Poco::Int64>(to_ms));
        return *first<Totals>(st, totals_from);
    });
}

}  // namespace api

#pragma once
/// @file Durable storage of the API through POCO Data, on SQLite (a file, the default) or
/// PostgreSQL (a `postgresql://` URI): users, admins, cars, orders and detailed bills as the
/// scheduler reports them, pile totals, settings. The same schema and migrations serve
/// both (docs/operations.md). SQLite runs in WAL mode with foreign keys on and
/// synchronous=FULL, PostgreSQL with synchronous_commit=on: a committed write survives a
/// power cut. The schema is versioned and migrated at start-up. One connection writes; a
/// small pool of read-only connections reads, so that reads never wait for a write's
/// fsync. Every method is thread-safe and each write is one transaction: on an error
/// nothing is stored.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/car_claims.hpp"
#include "api/money.hpp"
#include "api/read_cache.hpp"

namespace api {

namespace sql {
class Connection;
class Listener;
}  // namespace sql
class ApiMetrics;

struct UserRecord {
    std::int64_t id = 0;
    std::string account;
    std::string name;
    std::string password_hash;
    std::int64_t balance_cents = 0;
    std::int64_t token_version = 0;  ///< grows with each password change; tokens carry it
};

struct AdminRecord {
    std::int64_t id = 0;
    std::string account;
    std::string password_hash;
};

struct CarRecord {
    std::int64_t id = 0;
    std::int64_t user_id = 0;
    std::string name;
    double capacity_kwh = 0;
    double current_kwh = 0;
};

/// An order as its station's scheduler last reported it. `station_key` ("RUN/ORDER")
/// names it on the bus, unique within its `station`; `id` is the API's own id.
struct OrderRecord {
    std::int64_t id = 0;
    std::string station_key;
    std::int64_t user_id = 0;
    std::int64_t car_id = 0;
    std::string mode;         ///< "F" / "T"
    std::int64_t number = 0;  ///< the counter of its queue number
    std::string number_text;  ///< e.g. "F7"
    std::string state;        ///< WAITING, DISPATCHED, REDISPATCH, CHARGING, FINISHED, CANCELLED
    double apply_kwh = 0;
    double charge_kwh = 0;
    Cents charge_fee_cents = 0;
    Cents service_fee_cents = 0;
    std::string pile;
    std::string create_time;  ///< "YYYY-MM-DD HH:MM:SS", "" if not yet
    std::string dispatch_time;
    std::string start_time;
    std::string finish_time;
    std::int64_t front_cars = 0;
    std::int64_t log_pos = 0;  ///< the scheduler's log position of this state
    /// The station whose scheduler keeps the order: its id at a centre that serves several
    /// (contract::at_centre), "" for an API that follows one scheduler on its own topics.
    std::string station{};

    bool closed() const { return state == "FINISHED" || state == "CANCELLED"; }
};

/// A detailed bill (详单) of one charging session.
struct BillRecord {
    std::int64_t id = 0;
    std::string station_key;  ///< "RUN/BILL", unique within the station
    std::string order_key;    ///< the order's station_key
    std::string pile;
    std::int64_t start_ms = 0;  ///< station time
    std::int64_t stop_ms = 0;   ///< station time; also when it was generated
    double kwh = 0;
    double hours = 0;
    Cents charge_fee_cents = 0;
    Cents service_fee_cents = 0;
    std::string reason;
    std::int64_t log_pos = 0;  ///< the scheduler's log position it was made at
    std::string station{};     ///< as OrderRecord::station
};

/// How far the store has applied a station's change log: the run and the position.
struct LogPosition {
    std::string run;
    std::int64_t pos = 0;
};

/// The answer given to a request with an Idempotency-Key.
struct StoredAnswer {
    std::string request;  ///< what was asked (method, path, body), to refuse a reuse
    int status = 200;     ///< 0: reserved, the outcome not final yet
    std::string body;
};

/// Sums over bills: a pile's totals or a report.
struct Totals {
    std::int64_t charges = 0;
    double hours = 0;
    double kwh = 0;
    Cents charge_fee_cents = 0;
    Cents service_fee_cents = 0;
};

class Store {
  public:
    /// Opens the database at `location` and migrates it to the current schema: a SQLite file
    /// (created if needed, mode 0600) or a PostgreSQL database named by a `postgresql://`
    /// URI (it must exist; the tables are created in it). Throws if it cannot be opened or
    /// is newer than this program. `readers` read-only connections serve the reads.
    /// `schema` migrates only up to that version (tests of the migrations); -1 = the current.
    explicit Store(const std::string& location, int readers = 4, int schema = -1);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    static int schema_version();
    /// True when other API instances may write the same database (PostgreSQL).
    bool shared() const { return shared_; }

    /// Counts, from here on, the orders and bills stored for the first time and the change
    /// log's position (api/api_metrics.hpp), each once, after its commit; nullptr: not
    /// counted. Set before other threads use the store; must outlive it.
    void set_metrics(ApiMetrics* metrics);

    // ---- settings ----------------------------------------------------------------------
    /// Stores `value` under `key` unless one is there; returns the stored value.
    std::string setting_or_insert(const std::string& key, const std::string& value);

    // ---- accounts ----------------------------------------------------------------------
    /// The new user's id; nullopt if the account is taken.
    std::optional<std::int64_t> create_user(const std::string& account, const std::string& name,
                                            const std::string& password_hash);
    /// A user by id; served from memory after the first read (every request of a user
    /// needs it), forgotten whenever the user's row changes.
    std::optional<UserRecord> user(std::int64_t id);
    std::optional<UserRecord> user_by_account(const std::string& account);
    /// Changes the name and/or the password hash (an empty optional keeps it). A new
    /// password also moves the user's token version on, ending their other sessions.
    void update_user(std::int64_t id, const std::optional<std::string>& name,
                     const std::optional<std::string>& password_hash);
    /// Adds to the balance; returns the new balance.
    std::int64_t add_balance(std::int64_t user_id, std::int64_t cents);
    /// Creates the admin unless the account exists; true if it was created.
    bool ensure_admin(const std::string& account, const std::string& password_hash);
    std::optional<AdminRecord> admin(std::int64_t id);
    std::optional<AdminRecord> admin_by_account(const std::string& account);

    // ---- cars --------------------------------------------------------------------------
    std::int64_t add_car(std::int64_t user_id, const std::string& name, double capacity,
                         double current);
    /// A car that has not been deleted.
    std::optional<CarRecord> car(std::int64_t id);
    std::vector<CarRecord> cars_of(std::int64_t user_id);
    void update_car(const CarRecord& car);
    /// Marks the car deleted (its orders and bills stay).
    void delete_car(std::int64_t id);
    /// Grows whenever a car changes, so that views built from cars can be cached.
    std::int64_t cars_version() const { return cars_version_.load(); }

    // ---- orders and bills (as the scheduler reports them) --------------------------------
    /// Inserts or updates the order by its station and station key, keeping its API id. When the
    /// order first reaches FINISHED or CANCELLED it is settled in the same transaction: its fee is
    /// taken from the owner's balance and the energy added to the car's charge. Returns the order's
    /// API id; nullopt if the car is unknown. A state older (by `log_pos`) than the stored one
    /// changes nothing: a reply can come after the log brought a later change.
    std::optional<std::int64_t> record_order(const OrderRecord& order);
    std::optional<OrderRecord> order(std::int64_t id);
    /// The API id of the station's order with this station key.
    std::optional<std::int64_t> order_id_by_key(const std::string& station,
                                                const std::string& station_key);
    /// The user's orders, newest first: open ones (`open` true) or closed ones. Served
    /// from memory after the first read, forgotten whenever one of them changes.
    std::vector<OrderRecord> orders_of(std::int64_t user_id, bool open);
    /// The car's open order, if the store has one.
    std::optional<OrderRecord> open_order_of_car(std::int64_t car_id);
    /// Applies a part of `station`'s change log in one transaction: its bills, then its
    /// orders (the rules of record_bill and record_order: a bill once, an order settled
    /// once when it closes, closed is final), and moves the station's stored position from
    /// `expected` to `next`. Nothing is written and false is returned if the stored
    /// position is not `expected` (another writer of the database moved it, e.g. a second
    /// API instance on one PostgreSQL): log_position() then returns the stored one, from
    /// which the caller asks again. Throws std::invalid_argument for a row of another
    /// station.
    bool apply_changes(const std::string& station, const LogPosition& expected,
                       const LogPosition& next, const std::vector<OrderRecord>& orders,
                       const std::vector<BillRecord>& bills);
    /// The position of `station`'s log applied so far (as committed); an empty run and 0
    /// for a station never applied.
    LogPosition log_position(const std::string& station) const;
    /// Whether the store holds anything of `station`'s log: a position, an order or a bill.
    bool has_station(const std::string& station);
    /// Files everything of station `from`'s log (orders, bills, pile totals, settlements,
    /// the position) under station `to`, in one transaction: for the rows of an API that
    /// followed a station on its own topics (station "", every row before schema 6), once
    /// it serves that station by its id at a centre. Without it that station's log would
    /// be applied again under the new id, its orders settled twice. Throws
    /// std::invalid_argument if `to` already has rows or equals `from`.
    void adopt_station(const std::string& from, const std::string& to);

    // ---- idempotency keys --------------------------------------------------------------
    /// Reserves the user's key for `request` (method, path, station, body) unless it is
    /// kept already, and returns what is kept: status 0 while the request's outcome is
    /// not final (a retry of the same request goes on), else its answer. Kept for a day.
    StoredAnswer reserve_answer(std::int64_t user_id, const std::string& key,
                                const std::string& request, std::int64_t now_ms);
    /// Keeps the final answer of the request the key was reserved for (the first stays).
    void keep_answer(std::int64_t user_id, const std::string& key, const StoredAnswer& answer,
                     std::int64_t now_ms);

    // ---- car claims (api/car_claims.hpp) -----------------------------------------------
    /// Claims the car for `claim`'s station unless another station holds it (a claim of
    /// the same station is renewed to the later deadline); returns the claim held.
    CarClaim claim_car(const CarClaim& claim);
    /// Hands the car's claim from `held` to `mine`; false if `held` no longer holds it as
    /// it was (renewed, or taken over by another request first).
    bool take_over_claim(const CarClaim& held, const CarClaim& mine);

    /// Stores a bill once (a repeat of its station key changes nothing) and adds it to its
    /// pile's totals in the same transaction; true if it was new.
    bool record_bill(const BillRecord& bill);
    std::vector<BillRecord> bills_of_order(const std::string& station,
                                           const std::string& order_key);
    /// Totals of every pile of `station` that has a bill, since it was first started.
    std::vector<std::pair<std::string, Totals>> pile_totals(const std::string& station);
    /// Grows whenever a bill is stored (pile totals changed).
    std::int64_t bills_version() const { return bills_version_.load(); }
    /// Sums of one pile's bills (of `station`) whose stop time is in [from_ms, to_ms).
    Totals report(const std::string& station, const std::string& pile, std::int64_t from_ms,
                  std::int64_t to_ms);

  private:
    struct Reader {
        std::mutex mutex;
        std::unique_ptr<sql::Connection> connection;
    };
    void migrate(int target);
    template <typename F>
    auto read(F&& query);
    // In a transaction of `s` (the writer or the log's writer), with mutex_ held.
    std::optional<std::int64_t> write_order(sql::Connection& c, const OrderRecord& order);
    bool write_bill(sql::Connection& c, const BillRecord& bill);
    /// Forgets every cached row and moves the versions on (another writer changed rows).
    void forget_all_cached();
    /// In a write transaction on `c` that creates `account` if it is free: makes other
    /// instances on this PostgreSQL database creating an account equal but for case wait
    /// until it ends (nothing on SQLite, whose writes take turns anyway).
    void lock_account(sql::Connection& c, const std::string& account);
    /// In a write transaction on `c`: tells the other instances on this PostgreSQL database
    /// what it changes, at its commit ("u:ID" a user's row or orders, "c" cars, "b" bills;
    /// nothing on SQLite). on_notice() is their side.
    void announce(sql::Connection& c, const std::string& what);
    /// announce() of the users write_order touched, and of cars and bills when
    /// `closed` (an order closed: its car's charge grew) or bills were added.
    void announce_writes(sql::Connection& c, bool closed);
    void on_notice(std::string_view notice);
    /// After a commit: forgets the cached rows of the users whose orders were written.
    void forget_touched_users();
    /// After a commit: counts the rows write_order and write_bill added (then forgets them).
    void count_new_rows();

    ReadCache<std::int64_t, UserRecord> users_;                 // by id
    ReadCache<std::int64_t, AdminRecord> admins_;               // by id
    ReadCache<std::int64_t, std::vector<OrderRecord>> orders_;  // by user id * 2 + open
    std::vector<std::int64_t> touched_users_;                   // by the writer, in a write
    // Rows added in the write under way (with mutex_), counted once it is committed.
    std::int64_t new_orders_ = 0;
    std::int64_t new_bills_ = 0;
    std::int64_t new_billed_cents_ = 0;
    ApiMetrics* metrics_ = nullptr;
    bool shared_ = false;                          // PostgreSQL: other instances may write
    std::string instance_;                         // in its notices, to know its own
    std::unique_ptr<sql::Listener> listener_;      // their notices (after the connections)
    std::mutex mutex_;                             // both writers
    std::unique_ptr<sql::Connection> writer_;      // synchronous=FULL
    std::unique_ptr<sql::Connection> log_writer_;  // the log's copy: synchronous=NORMAL
    std::vector<std::unique_ptr<Reader>> readers_;
    std::atomic<std::int64_t> cars_version_{0};
    std::atomic<std::int64_t> bills_version_{0};
    mutable std::mutex position_mutex_;
    std::map<std::string, LogPosition, std::less<>> positions_;  // by station
};

}  // namespace api

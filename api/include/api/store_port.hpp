#pragma once
/// @file What the API's use cases need of storage (the port; api/store.hpp is the
/// database adapter, tests/api/memory_store.hpp an in-memory stand-in for in-process tests
/// of the use cases): users, admins, cars, orders and detailed bills as the scheduler
/// reports them, pile totals, idempotency keys and car claims. Records carry money in
/// whole cents (api/money.hpp). Every method is thread-safe and each write is atomic: on an
/// error nothing is stored.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/car_claims.hpp"
#include "api/money.hpp"

namespace api {

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

/// Storage as the use cases see it. The database adapter is Store (api/store.hpp).
class StorePort {
  public:
    virtual ~StorePort() = default;

    /// True when other API instances may write the same storage at once (their writes
    /// reach this one's reads without passing through it).
    virtual bool shared() const = 0;

    // ---- settings ----------------------------------------------------------------------
    /// Stores `value` under `key` unless one is there; returns the stored value.
    virtual std::string setting_or_insert(const std::string& key, const std::string& value) = 0;

    // ---- accounts ----------------------------------------------------------------------
    /// The new user's id; nullopt if the account is taken.
    virtual std::optional<std::int64_t> create_user(const std::string& account,
                                                    const std::string& name,
                                                    const std::string& password_hash) = 0;
    /// A user by id (every request of a user asks: the database adapter serves it from
    /// memory after the first read).
    virtual std::optional<UserRecord> user(std::int64_t id) = 0;
    virtual std::optional<UserRecord> user_by_account(const std::string& account) = 0;
    /// Changes the name and/or the password hash (an empty optional keeps it). A new
    /// password also moves the user's token version on, ending their other sessions.
    virtual void update_user(std::int64_t id, const std::optional<std::string>& name,
                             const std::optional<std::string>& password_hash) = 0;
    /// Adds to the balance; returns the new balance. Throws std::invalid_argument for a
    /// user that does not exist (nothing is stored).
    virtual std::int64_t add_balance(std::int64_t user_id, std::int64_t cents) = 0;
    /// Creates the admin unless the account exists; true if it was created.
    virtual bool ensure_admin(const std::string& account, const std::string& password_hash) = 0;
    virtual std::optional<AdminRecord> admin(std::int64_t id) = 0;
    virtual std::optional<AdminRecord> admin_by_account(const std::string& account) = 0;

    // ---- cars --------------------------------------------------------------------------
    virtual std::int64_t add_car(std::int64_t user_id, const std::string& name, double capacity,
                                 double current) = 0;
    /// A car that has not been deleted.
    virtual std::optional<CarRecord> car(std::int64_t id) = 0;
    virtual std::vector<CarRecord> cars_of(std::int64_t user_id) = 0;
    virtual void update_car(const CarRecord& car) = 0;
    /// Marks the car deleted (its orders and bills stay).
    virtual void delete_car(std::int64_t id) = 0;
    /// Grows whenever a car changes, so that views built from cars can be cached.
    virtual std::int64_t cars_version() const = 0;

    // ---- orders and bills (as the scheduler reports them) --------------------------------
    /// Inserts or updates the order by its station and station key, keeping its API id. When the
    /// order first reaches FINISHED or CANCELLED it is settled in the same transaction: its fee is
    /// taken from the owner's balance and the energy added to the car's charge. Returns the order's
    /// API id; nullopt if the car is unknown. A state older (by `log_pos`) than the stored one
    /// changes nothing: a reply can come after the log brought a later change.
    virtual std::optional<std::int64_t> record_order(const OrderRecord& order) = 0;
    virtual std::optional<OrderRecord> order(std::int64_t id) = 0;
    /// The API id of the station's order with this station key.
    virtual std::optional<std::int64_t> order_id_by_key(const std::string& station,
                                                        const std::string& station_key) = 0;
    /// The user's orders, newest first: open ones (`open` true) or closed ones.
    virtual std::vector<OrderRecord> orders_of(std::int64_t user_id, bool open) = 0;
    /// The car's open order, if the store has one.
    virtual std::optional<OrderRecord> open_order_of_car(std::int64_t car_id) = 0;
    /// Applies a part of `station`'s change log in one transaction: its bills, then its
    /// orders (the rules of record_bill and record_order: a bill once, an order settled
    /// once when it closes, closed is final), and moves the station's stored position from
    /// `expected` to `next`. Nothing is written and false is returned if the stored
    /// position is not `expected` (another writer of the database moved it, e.g. a second
    /// API instance on one PostgreSQL): log_position() then returns the stored one, from
    /// which the caller asks again. Throws std::invalid_argument for a row of another
    /// station.
    virtual bool apply_changes(const std::string& station, const LogPosition& expected,
                               const LogPosition& next, const std::vector<OrderRecord>& orders,
                               const std::vector<BillRecord>& bills) = 0;
    /// The position of `station`'s log applied so far (as committed); an empty run and 0
    /// for a station never applied.
    virtual LogPosition log_position(const std::string& station) const = 0;
    /// Whether the store holds anything of `station`'s log: a position, an order or a bill.
    virtual bool has_station(const std::string& station) = 0;
    /// Files everything of station `from`'s log (orders, bills, pile totals, settlements,
    /// the position) under station `to`, in one transaction: for the rows of an API that
    /// followed a station on its own topics (station "", every row before schema 6), once
    /// it serves that station by its id at a centre. Without it that station's log would
    /// be applied again under the new id, its orders settled twice. Throws
    /// std::invalid_argument if `to` already has rows or equals `from`.
    virtual void adopt_station(const std::string& from, const std::string& to) = 0;

    // ---- idempotency keys --------------------------------------------------------------
    /// Reserves the user's key for `request` (method, path, station, body) unless it is
    /// kept already, and returns what is kept: status 0 while the request's outcome is
    /// not final (a retry of the same request goes on), else its answer. Kept for a day.
    virtual StoredAnswer reserve_answer(std::int64_t user_id, const std::string& key,
                                        const std::string& request, std::int64_t now_ms) = 0;
    /// Keeps the final answer of the request the key was reserved for (the first stays).
    virtual void keep_answer(std::int64_t user_id, const std::string& key,
                             const StoredAnswer& answer, std::int64_t now_ms) = 0;

    // ---- car claims (api/car_claims.hpp) -----------------------------------------------
    /// Claims the car for `claim`'s station unless another station holds it (a claim of
    /// the same station is renewed to the later deadline); returns the claim held.
    virtual CarClaim claim_car(const CarClaim& claim) = 0;
    /// Hands the car's claim from `held` to `mine`; false if `held` no longer holds it as
    /// it was (renewed, or taken over by another request first).
    virtual bool take_over_claim(const CarClaim& held, const CarClaim& mine) = 0;

    /// Stores a bill once (a repeat of its station key changes nothing) and adds it to its
    /// pile's totals in the same transaction; true if it was new.
    virtual bool record_bill(const BillRecord& bill) = 0;
    virtual std::vector<BillRecord> bills_of_order(const std::string& station,
                                                   const std::string& order_key) = 0;
    /// Totals of every pile of `station` that has a bill, since it was first started.
    virtual std::vector<std::pair<std::string, Totals>> pile_totals(const std::string& station) = 0;
    /// Grows whenever a bill is stored (pile totals changed).
    virtual std::int64_t bills_version() const = 0;
    /// Sums of one pile's bills (of `station`) whose stop time is in [from_ms, to_ms).
    virtual Totals report(const std::string& station, const std::string& pile, std::int64_t from_ms,
                          std::int64_t to_ms) = 0;
};

}  // namespace api

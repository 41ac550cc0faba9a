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

#include "api/read_cache.hpp"
#include "api/store_port.hpp"

namespace api {

namespace sql {
class Connection;
class Listener;
}  // namespace sql
class ApiMetrics;

class Store final : public StorePort {
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
    bool shared() const override { return shared_; }

    /// Counts, from here on, the orders and bills stored for the first time and the change
    /// log's position (api/api_metrics.hpp), each once, after its commit; nullptr: not
    /// counted. Set before other threads use the store; must outlive it.
    void set_metrics(ApiMetrics* metrics);

    // ---- settings ----------------------------------------------------------------------
    std::string setting_or_insert(const std::string& key, const std::string& value) override;

    // ---- accounts ----------------------------------------------------------------------
    std::optional<std::int64_t> create_user(const std::string& account, const std::string& name,
                                            const std::string& password_hash) override;
    std::optional<UserRecord> user(std::int64_t id) override;
    std::optional<UserRecord> user_by_account(const std::string& account) override;
    void update_user(std::int64_t id, const std::optional<std::string>& name,
                     const std::optional<std::string>& password_hash) override;
    std::int64_t add_balance(std::int64_t user_id, std::int64_t cents) override;
    bool ensure_admin(const std::string& account, const std::string& password_hash) override;
    std::optional<AdminRecord> admin(std::int64_t id) override;
    std::optional<AdminRecord> admin_by_account(const std::string& account) override;

    // ---- cars --------------------------------------------------------------------------
    std::int64_t add_car(std::int64_t user_id, const std::string& name, double capacity,
                         double current) override;
    std::optional<CarRecord> car(std::int64_t id) override;
    std::vector<CarRecord> cars_of(std::int64_t user_id) override;
    void update_car(const CarRecord& car) override;
    void delete_car(std::int64_t id) override;
    std::int64_t cars_version() const override { return cars_version_.load(); }

    // ---- orders and bills (as the scheduler reports them) --------------------------------
    std::optional<std::int64_t> record_order(const OrderRecord& order) override;
    std::optional<OrderRecord> order(std::int64_t id) override;
    std::optional<std::int64_t> order_id_by_key(const std::string& station,
                                                const std::string& station_key) override;
    std::vector<OrderRecord> orders_of(std::int64_t user_id, bool open) override;
    std::optional<OrderRecord> open_order_of_car(std::int64_t car_id) override;
    bool apply_changes(const std::string& station, const LogPosition& expected,
                       const LogPosition& next, const std::vector<OrderRecord>& orders,
                       const std::vector<BillRecord>& bills) override;
    LogPosition log_position(const std::string& station) const override;
    bool has_station(const std::string& station) override;
    void adopt_station(const std::string& from, const std::string& to) override;

    // ---- idempotency keys --------------------------------------------------------------
    StoredAnswer reserve_answer(std::int64_t user_id, const std::string& key,
                                const std::string& request, std::int64_t now_ms) override;
    void keep_answer(std::int64_t user_id, const std::string& key, const StoredAnswer& answer,
                     std::int64_t now_ms) override;

    // ---- car claims (api/car_claims.hpp) -----------------------------------------------
    CarClaim claim_car(const CarClaim& claim) override;
    bool take_over_claim(const CarClaim& held, const CarClaim& mine) override;

    bool record_bill(const BillRecord& bill) override;
    std::vector<BillRecord> bills_of_order(const std::string& station,
                                           const std::string& order_key) override;
    std::vector<std::pair<std::string, Totals>> pile_totals(const std::string& station) override;
    std::int64_t bills_version() const override { return bills_version_.load(); }
    Totals report(const std::string& station, const std::string& pile, std::int64_t from_ms,
                  std::int64_t to_ms) override;

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

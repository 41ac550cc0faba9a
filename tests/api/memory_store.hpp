#pragma once
/// @file The in-process stand-in for api::Store (api/store.hpp) used by the use-case tests
/// (tests/api/test_use_cases.cpp): every api::StorePort method on plain maps in memory, with
/// the database adapter's observable behaviour (ids from 1 upward, accounts matched without
/// regard to ASCII case, an order settled once when it first closes, closed is final, a bill
/// once, the change log's position checked and moved all-or-nothing, answers kept for a day,
/// car claims). tests/api/test_store_contract.cpp runs the same checks on both, so that this
/// one cannot drift from Store's behaviour. Thread-safe: one mutex, held by every method.
/// Writes check everything before they change anything, so an error stores nothing; where
/// the database refuses a row (a missing user or car, a capacity not above 0, a mode other
/// than F or T) this throws std::invalid_argument.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/store_port.hpp"

namespace apitest {

class MemoryStore final : public api::StorePort {
  public:
    /// Never shared: nothing else writes this store.
    bool shared() const override { return false; }

    // ---- settings ----------------------------------------------------------------------
    std::string setting_or_insert(const std::string& key, const std::string& value) override;

    // ---- accounts ----------------------------------------------------------------------
    std::optional<std::int64_t> create_user(const std::string& account, const std::string& name,
                                            const std::string& password_hash) override;
    std::optional<api::UserRecord> user(std::int64_t id) override;
    std::optional<api::UserRecord> user_by_account(const std::string& account) override;
    void update_user(std::int64_t id, const std::optional<std::string>& name,
                     const std::optional<std::string>& password_hash) override;
    std::int64_t add_balance(std::int64_t user_id, std::int64_t cents) override;
    bool ensure_admin(const std::string& account, const std::string& password_hash) override;
    std::optional<api::AdminRecord> admin(std::int64_t id) override;
    std::optional<api::AdminRecord> admin_by_account(const std::string& account) override;

    // ---- cars --------------------------------------------------------------------------
    std::int64_t add_car(std::int64_t user_id, const std::string& name, double capacity,
                         double current) override;
    std::optional<api::CarRecord> car(std::int64_t id) override;
    std::vector<api::CarRecord> cars_of(std::int64_t user_id) override;
    void update_car(const api::CarRecord& car) override;
    void delete_car(std::int64_t id) override;
    std::int64_t cars_version() const override;

    // ---- orders and bills ----------------------------------------------------------------
    std::optional<std::int64_t> record_order(const api::OrderRecord& order) override;
    std::optional<api::OrderRecord> order(std::int64_t id) override;
    std::optional<std::int64_t> order_id_by_key(const std::string& station,
                                                const std::string& station_key) override;
    std::vector<api::OrderRecord> orders_of(std::int64_t user_id, bool open) override;
    std::optional<api::OrderRecord> open_order_of_car(std::int64_t car_id) override;
    bool apply_changes(const std::string& station, const api::LogPosition& expected,
                       const api::LogPosition& next, const std::vector<api::OrderRecord>& orders,
                       const std::vector<api::BillRecord>& bills) override;
    api::LogPosition log_position(const std::string& station) const override;
    bool has_station(const std::string& station) override;
    void adopt_station(const std::string& from, const std::string& to) override;

    // ---- idempotency keys --------------------------------------------------------------
    api::StoredAnswer reserve_answer(std::int64_t user_id, const std::string& key,
                                     const std::string& request, std::int64_t now_ms) override;
    void keep_answer(std::int64_t user_id, const std::string& key, const api::StoredAnswer& answer,
                     std::int64_t now_ms) override;

    // ---- car claims --------------------------------------------------------------------
    api::CarClaim claim_car(const api::CarClaim& claim) override;
    bool take_over_claim(const api::CarClaim& held, const api::CarClaim& mine) override;

    bool record_bill(const api::BillRecord& bill) override;
    std::vector<api::BillRecord> bills_of_order(const std::string& station,
                                                const std::string& order_key) override;
    std::vector<std::pair<std::string, api::Totals>> pile_totals(
        const std::string& station) override;
    std::int64_t bills_version() const override;
    api::Totals report(const std::string& station, const std::string& pile, std::int64_t from_ms,
                       std::int64_t to_ms) override;

  private:
    using StationKey = std::pair<std::string, std::string>;  // (station, its key)
    struct Car {
        api::CarRecord record;
        bool deleted = false;
    };
    struct Settlement {  // what closing an order took and gave, once per order
        std::int64_t user_id = 0;
        api::Cents fee_cents = 0;
        double kwh = 0;
    };
    struct Answer {
        api::StoredAnswer answer;
        std::int64_t created_ms = 0;
    };

    // With mutex_ held.
    std::optional<api::UserRecord> user_by_account_locked(const std::string& account) const;
    /// Throws std::invalid_argument if the database would refuse a row that writing
    /// `orders` in turn writes (a mode other than F or T); changes nothing.
    void check_orders(const std::vector<api::OrderRecord>& orders) const;
    /// Record_order's rules, on orders check_orders passed: the order's id, nullopt if its
    /// car is unknown.
    std::optional<std::int64_t> write_order(const api::OrderRecord& order);
    /// Record_bill's rules: true if the bill was new.
    bool write_bill(const api::BillRecord& bill);

    mutable std::mutex mutex_;
    std::map<std::string, std::string> settings_;
    std::map<std::int64_t, api::UserRecord> users_;  // by id
    std::map<std::int64_t, api::AdminRecord> admins_;
    std::map<std::int64_t, Car> cars_;
    std::map<std::int64_t, api::OrderRecord> orders_;    // by id; a closed order is !open
    std::map<StationKey, std::int64_t> order_ids_;       // by station and station key
    std::map<std::int64_t, api::BillRecord> bills_;      // by id
    std::map<StationKey, std::int64_t> bill_ids_;        // by station and station key
    std::map<StationKey, api::Totals> pile_totals_;      // by station and pile
    std::map<StationKey, Settlement> settlements_;       // by station and the order's key
    std::map<std::string, api::LogPosition> positions_;  // by station
    std::map<std::pair<std::int64_t, std::string>, Answer> answers_;  // by user and key
    std::map<std::int64_t, api::CarClaim> claims_;                    // by car id
    std::int64_t cars_version_ = 0;
    std::int64_t bills_version_ = 0;
};

}  // namespace apitest

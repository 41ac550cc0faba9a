#pragma once
/// @file The OCPP 1.6 messages the gateway speaks, typed, each with one JSON mapping per
/// direction. What comes from a charger is parsed with the checks of the OCPP 1.6 JSON
/// schemas (required fields, types, enumerations, string lengths) and refused with the
/// CALLERROR code OCPP-J gives the first violation. Fields the gateway does not use are
/// not kept; unknown fields are ignored (chargers add vendor fields).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/ocpp_frame.hpp"

namespace gateway {

/// Why a payload was refused: the CALLERROR code and a description.
struct Violation {
    ErrorCode code = ErrorCode::FormationViolation;
    std::string message;
};

// ---- from the charger: requests -------------------------------------------------------

struct BootNotificationReq {
    std::string vendor;  ///< chargePointVendor, <= 20
    std::string model;   ///< chargePointModel, <= 20
    std::string serial;  ///< chargePointSerialNumber, <= 25, optional
    std::string firmware;
};

struct StatusNotificationReq {
    std::int64_t connector_id = 0;  ///< 0 = the charge point as a whole
    std::string error_code;         ///< ChargePointErrorCode, e.g. "NoError"
    std::string status;             ///< ChargePointStatus, e.g. "Charging"
    std::string info;
    std::optional<std::int64_t> timestamp;  ///< UTC ms
    std::string vendor_error_code;
};

struct AuthorizeReq {
    std::string id_tag;  ///< <= 20
};

struct StartTransactionReq {
    std::int64_t connector_id = 0;
    std::string id_tag;
    std::int64_t meter_start = 0;  ///< Wh
    std::optional<std::int64_t> reservation_id;
    std::int64_t timestamp = 0;  ///< UTC ms
};

struct SampledValue {
    std::string value;      ///< a decimal number as text (format Raw)
    std::string measurand;  ///< default "Energy.Active.Import.Register"
    std::string unit;       ///< default "Wh"
    std::string phase;      ///< "" = none
    std::string context;
    std::string format;  ///< "Raw" or "SignedData"
};

struct MeterValue {
    std::int64_t timestamp = 0;  ///< UTC ms
    std::vector<SampledValue> sampled;
};

struct StopTransactionReq {
    std::int64_t transaction_id = 0;
    std::int64_t meter_stop = 0;  ///< Wh
    std::int64_t timestamp = 0;
    std::string id_tag;
    std::string reason;  ///< "" = Local (the default)
    std::vector<MeterValue> transaction_data;
};

struct MeterValuesReq {
    std::int64_t connector_id = 0;
    std::optional<std::int64_t> transaction_id;
    std::vector<MeterValue> meter_values;
};

struct DataTransferReq {
    std::string vendor_id;   ///< <= 255
    std::string message_id;  ///< <= 50
};

/// Each returns the first violation, or nullopt when `payload` is a valid request.
std::optional<Violation> parse(const nlohmann::json& payload, BootNotificationReq& out);
std::optional<Violation> parse(const nlohmann::json& payload, StatusNotificationReq& out);
std::optional<Violation> parse(const nlohmann::json& payload, AuthorizeReq& out);
std::optional<Violation> parse(const nlohmann::json& payload, StartTransactionReq& out);
std::optional<Violation> parse(const nlohmann::json& payload, StopTransactionReq& out);
std::optional<Violation> parse(const nlohmann::json& payload, MeterValuesReq& out);
std::optional<Violation> parse(const nlohmann::json& payload, DataTransferReq& out);
/// Heartbeat: an (empty) object.
std::optional<Violation> parse_heartbeat(const nlohmann::json& payload);

/// The energy register of a meter value: Energy.Active.Import.Register without a phase
/// (or the sum over L1, L2, L3 when only phases are given), in kWh (unit Wh or kWh);
/// nullopt when absent or unreadable.
std::optional<double> energy_import_kwh(const MeterValue& mv);
/// Power.Active.Import (W or kW) in kW, the same way; nullopt when absent.
std::optional<double> power_import_kw(const MeterValue& mv);

// ---- to the charger: answers ----------------------------------------------------------

struct IdTagInfo {
    std::string status = "Accepted";  ///< Accepted, Blocked, Expired, Invalid, ConcurrentTx
};

struct BootNotificationConf {
    std::string status = "Accepted";  ///< Accepted, Pending, Rejected
    std::int64_t current_time = 0;    ///< UTC ms
    std::int64_t interval = 300;      ///< s
};
struct HeartbeatConf {
    std::int64_t current_time = 0;
};
struct AuthorizeConf {
    IdTagInfo id_tag_info;
};
struct StartTransactionConf {
    IdTagInfo id_tag_info;
    std::int64_t transaction_id = 0;
};
struct StopTransactionConf {
    std::optional<IdTagInfo> id_tag_info;
};
struct DataTransferConf {
    std::string status = "Rejected";
};

nlohmann::json to_json(const BootNotificationConf& m);
nlohmann::json to_json(const HeartbeatConf& m);
nlohmann::json to_json(const AuthorizeConf& m);
nlohmann::json to_json(const StartTransactionConf& m);
nlohmann::json to_json(const StopTransactionConf& m);
nlohmann::json to_json(const DataTransferConf& m);

// ---- from the central system: requests, and the charger's answers ---------------------

struct RemoteStartTransactionReq {
    std::int64_t connector_id = 0;
    std::string id_tag;
};
struct RemoteStopTransactionReq {
    std::int64_t transaction_id = 0;
};
struct ChangeAvailabilityReq {
    std::int64_t connector_id = 0;
    bool operative = true;
};
/// Reset: the whole charger restarts (Soft: its transactions stopped gracefully first).
struct ResetReq {
    bool hard = false;
};
struct TriggerMessageReq {
    std::string requested_message;  ///< e.g. "BootNotification", "StatusNotification"
    std::optional<std::int64_t> connector_id;
};
struct ChangeConfigurationReq {
    std::string key;
    std::string value;
};
/// GetConfiguration: the keys asked for (none: all of them).
struct GetConfigurationReq {
    std::vector<std::string> keys;
};
struct ConfigurationKey {
    std::string key;  ///< at most 50 characters
    bool readonly = false;
    std::optional<std::string> value;  ///< at most 500 characters
};
/// The charger's answer to GetConfiguration.
struct GetConfigurationConf {
    std::vector<ConfigurationKey> configuration_key;
    std::vector<std::string> unknown_key;
};

nlohmann::json to_json(const RemoteStartTransactionReq& m);
nlohmann::json to_json(const RemoteStopTransactionReq& m);
nlohmann::json to_json(const ChangeAvailabilityReq& m);
nlohmann::json to_json(const ResetReq& m);
nlohmann::json to_json(const TriggerMessageReq& m);
nlohmann::json to_json(const ChangeConfigurationReq& m);
nlohmann::json to_json(const GetConfigurationReq& m);
/// Reads a GetConfiguration answer as OCPP 1.6's schema has it (configurationKey: key,
/// readonly required, value optional; unknownKey: strings), both arrays optional.
std::optional<Violation> parse(const nlohmann::json& payload, GetConfigurationConf& out);

/// The answer to each of those is {status: <enum>}: reads it, checking the action's
/// enumeration (RemoteStart/Stop, Reset: Accepted, Rejected; ChangeAvailability: + Scheduled;
/// TriggerMessage: + NotImplemented; ChangeConfiguration: + RebootRequired, NotSupported).
std::optional<Violation> parse_status_conf(std::string_view action, const nlohmann::json& payload,
                                           std::string& status);

}  // namespace gateway

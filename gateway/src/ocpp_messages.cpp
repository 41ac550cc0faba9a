#include "gateway/ocpp_messages.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "gateway/ocpp_time.hpp"
#include "json_fields.hpp"

namespace gateway {

using detail::FieldReader;
using nlohmann::json;

namespace {

std::optional<Violation> done(const FieldReader& r) {
    return r.violation();
}

std::optional<double> number(const std::string& text) {
    if (text.empty() || text.size() > 64) {
        return std::nullopt;
    }
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

void read_sampled(FieldReader& parent, const json& j, std::string where, SampledValue& out) {
    FieldReader r(j, where);
    out.value = r.string("value", true, 1000).value_or("");  // no length in the schema
    out.context =
        r.enumeration("context", false,
                      {"Interruption.Begin", "Interruption.End", "Sample.Clock", "Sample.Periodic",
                       "Transaction.Begin", "Transaction.End", "Trigger", "Other"})
            .value_or("Sample.Periodic");
    out.format = r.enumeration("format", false, {"Raw", "SignedData"}).value_or("Raw");
    out.measurand = r.enumeration("measurand", false,
                                  {"Energy.Active.Export.Register",
                                   "Energy.Active.Import.Register",
                                   "Energy.Reactive.Export.Register",
                                   "Energy.Reactive.Import.Register",
                                   "Energy.Active.Export.Interval",
                                   "Energy.Active.Import.Interval",
                                   "Energy.Reactive.Export.Interval",
                                   "Energy.Reactive.Import.Interval",
                                   "Power.Active.Export",
                                   "Power.Active.Import",
                                   "Power.Offered",
                                   "Power.Reactive.Export",
                                   "Power.Reactive.Import",
                                   "Power.Factor",
                                   "Current.Import",
                                   "Current.Export",
                                   "Current.Offered",
                                   "Voltage",
                                   "Frequency",
                                   "Temperature",
                                   "SoC",
                                   "RPM"})
                        .value_or("Energy.Active.Import.Register");
    out.phase =
        r.enumeration("phase", false,
                      {"L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1"})
            .value_or("");
    r.enumeration("location", false, {"Cable", "EV", "Inlet", "Outlet", "Body"});
    out.unit = r.enumeration("unit", false,
                             {"Wh", "kWh", "varh", "kvarh", "W", "kW", "VA", "kVA", "var", "kvar",
                              "A", "V", "K", "Celcius", "Celsius", "Fahrenheit", "Percent"})
                   .value_or("Wh");
    if (const auto& v = r.violation()) {
        parent.fail(v->code, v->message);
    }
}

void read_meter_values(FieldReader& parent, const json* array, const std::string& name,
                       std::vector<MeterValue>& out) {
    if (array == nullptr) {
        return;
    }
    for (std::size_t i = 0; i < array->size() && parent.ok(); ++i) {
        const std::string where = name + "[" + std::to_string(i) + "].";
        FieldReader r((*array)[i], where);
        MeterValue mv;
        mv.timestamp = r.time("timestamp", true).value_or(0);
        const json* sampled = r.array("sampledValue", true);
        if (const auto& v = r.violation()) {
            parent.fail(v->code, v->message);
            return;
        }
        for (std::size_t k = 0; k < sampled->size() && parent.ok(); ++k) {
            SampledValue sv;
            read_sampled(parent, (*sampled)[k], where + "sampledValue[" + std::to_string(k) + "].",
                         sv);
            mv.sampled.push_back(std::move(sv));
        }
        out.push_back(std::move(mv));
    }
}

// The value of `measurand` in `unit_kilo` (kWh, kW) from its base unit (Wh, W) or kilo
// unit: without a phase, else the sum of L1..L3 (or L1-N..L3-N).
std::optional<double> measured(const MeterValue& mv, std::string_view measurand,
                               std::string_view base, std::string_view kilo) {
    std::optional<double> total;
    double phases = 0;
    bool any_phase = false;
    for (const auto& sv : mv.sampled) {
        if (sv.measurand != measurand || sv.format != "Raw") {
            continue;
        }
        const auto v = number(sv.value);
        if (!v) {
            continue;
        }
        double scaled = 0;
        if (sv.unit == base) {
            scaled = *v / 1000.0;
        } else if (sv.unit == kilo) {
            scaled = *v;
        } else {
            continue;
        }
        if (sv.phase.empty()) {
            total = scaled;
        } else if (sv.phase == "L1" || sv.phase == "L2" || sv.phase == "L3" || sv.phase == "L1-N" ||
                   sv.phase == "L2-N" || sv.phase == "L3-N") {
            phases += scaled;
            any_phase = true;
        }
    }
    if (total) {
        return total;
    }
    if (any_phase) {
        return phases;
    }
    return std::nullopt;
}

}  // namespace

std::optional<Violation> parse(const json& payload, BootNotificationReq& out) {
    FieldReader r(payload);
    out.vendor = r.string("chargePointVendor", true, 20).value_or("");
    out.model = r.string("chargePointModel", true, 20).value_or("");
    out.serial = r.string("chargePointSerialNumber", false, 25).value_or("");
    r.string("chargeBoxSerialNumber", false, 25);
    out.firmware = r.string("firmwareVersion", false, 50).value_or("");
    r.string("iccid", false, 20);
    r.string("imsi", false, 20);
    r.string("meterType", false, 25);
    r.string("meterSerialNumber", false, 25);
    return done(r);
}

std::optional<Violation> parse(const json& payload, StatusNotificationReq& out) {
    FieldReader r(payload);
    out.connector_id = r.integer("connectorId", true).value_or(0);
    out.error_code = r.enumeration("errorCode", true,
                                   {"ConnectorLockFailure", "EVCommunicationError", "GroundFailure",
                                    "HighTemperature", "InternalError", "LocalListConflict",
                                    "NoError", "OtherError", "OverCurrentFailure",
                                    "PowerMeterFailure", "PowerSwitchFailure", "ReaderFailure",
                                    "ResetFailure", "UnderVoltage", "OverVoltage", "WeakSignal"})
                         .value_or("");
    out.info = r.string("info", false, 50).value_or("");
    out.status = r.enumeration("status", true,
                               {"Available", "Preparing", "Charging", "SuspendedEVSE",
                                "SuspendedEV", "Finishing", "Reserved", "Unavailable", "Faulted"})
                     .value_or("");
    out.timestamp = r.time("timestamp", false);
    r.string("vendorId", false, 255);
    out.vendor_error_code = r.string("vendorErrorCode", false, 50).value_or("");
    if (r.ok() && out.connector_id < 0) {
        r.fail(ErrorCode::PropertyConstraintViolation, "connectorId must be 0 or more");
    }
    return done(r);
}

std::optional<Violation> parse(const json& payload, AuthorizeReq& out) {
    FieldReader r(payload);
    out.id_tag = r.string("idTag", true, 20).value_or("");
    return done(r);
}

std::optional<Violation> parse(const json& payload, StartTransactionReq& out) {
    FieldReader r(payload);
    out.connector_id = r.integer("connectorId", true).value_or(0);
    out.id_tag = r.string("idTag", true, 20).value_or("");
    out.meter_start = r.integer("meterStart", true).value_or(0);
    out.reservation_id = r.integer("reservationId", false);
    out.timestamp = r.time("timestamp", true).value_or(0);
    if (r.ok() && out.connector_id <= 0) {
        r.fail(ErrorCode::PropertyConstraintViolation, "connectorId must be above 0");
    }
    return done(r);
}

std::optional<Violation> parse(const json& payload, StopTransactionReq& out) {
    FieldReader r(payload);
    out.id_tag = r.string("idTag", false, 20).value_or("");
    out.meter_stop = r.integer("meterStop", true).value_or(0);
    out.timestamp = r.time("timestamp", true).value_or(0);
    out.transaction_id = r.integer("transactionId", true).value_or(0);
    out.reason = r.enumeration("reason", false,
                               {"EmergencyStop", "EVDisconnected", "HardReset", "Local", "Other",
                                "PowerLoss", "Reboot", "Remote", "SoftReset", "UnlockCommand",
                                "DeAuthorized"})
                     .value_or("");
    read_meter_values(r, r.array("transactionData", false), "transactionData",
                      out.transaction_data);
    return done(r);
}

std::optional<Violation> parse(const json& payload, MeterValuesReq& out) {
    FieldReader r(payload);
    out.connector_id = r.integer("connectorId", true).value_or(0);
    out.transaction_id = r.integer("transactionId", false);
    read_meter_values(r, r.array("meterValue", true), "meterValue", out.meter_values);
    if (r.ok() && out.connector_id < 0) {
        r.fail(ErrorCode::PropertyConstraintViolation, "connectorId must be 0 or more");
    }
    return done(r);
}

std::optional<Violation> parse(const json& payload, DataTransferReq& out) {
    FieldReader r(payload);
    out.vendor_id = r.string("vendorId", true, 255).value_or("");
    out.message_id = r.string("messageId", false, 50).value_or("");
    if (const json* d =
            payload.is_object() && payload.contains("data") ? &payload["data"] : nullptr;
        d != nullptr && !d->is_string()) {
        r.fail(ErrorCode::TypeConstraintViolation, "data must be a string");
    }
    return done(r);
}

std::optional<Violation> parse_heartbeat(const json& payload) {
    FieldReader r(payload);
    return done(r);
}

std::optional<double> energy_import_kwh(const MeterValue& mv) {
    return measured(mv, "Energy.Active.Import.Register", "Wh", "kWh");
}

std::optional<double> power_import_kw(const MeterValue& mv) {
    return measured(mv, "Power.Active.Import", "W", "kW");
}

json to_json(const BootNotificationConf& m) {
    return json{{"status", m.status},
                {"currentTime", format_ocpp_time(m.current_time)},
                {"interval", m.interval}};
}

json to_json(const HeartbeatConf& m) {
    return json{{"currentTime", format_ocpp_time(m.current_time)}};
}

namespace {
json id_tag_info(const IdTagInfo& i) {
    return json{{"status", i.status}};
}
}  // namespace

json to_json(const AuthorizeConf& m) {
    return json{{"idTagInfo", id_tag_info(m.id_tag_info)}};
}

json to_json(const StartTransactionConf& m) {
    return json{{"idTagInfo", id_tag_info(m.id_tag_info)}, {"transactionId", m.transaction_id}};
}

json to_json(const StopTransactionConf& m) {
    json j = json::object();
    if (m.id_tag_info) {
        j["idTagInfo"] = id_tag_info(*m.id_tag_info);
    }
    return j;
}

json to_json(const DataTransferConf& m) {
    return json{{"status", m.status}};
}

json to_json(const RemoteStartTransactionReq& m) {
    return json{{"connectorId", m.connector_id}, {"idTag", m.id_tag}};
}

json to_json(const RemoteStopTransactionReq& m) {
    return json{{"transactionId", m.transaction_id}};
}

json to_json(const ChangeAvailabilityReq& m) {
    return json{{"connectorId", m.connector_id},
                {"type", m.operative ? "Operative" : "Inoperative"}};
}

json to_json(const ResetReq& m) {
    return json{{"type", m.hard ? "Hard" : "Soft"}};
}

json to_json(const TriggerMessageReq& m) {
    json j{{"requestedMessage", m.requested_message}};
    if (m.connector_id) {
        j["connectorId"] = *m.connector_id;
    }
    return j;
}

json to_json(const ChangeConfigurationReq& m) {
    return json{{"key", m.key}, {"value", m.value}};
}

json to_json(const GetConfigurationReq& m) {
    json j = json::object();
    if (!m.keys.empty()) {
        j["key"] = m.keys;
    }
    return j;
}

std::optional<Violation> parse(const json& payload, GetConfigurationConf& out) {
    FieldReader r(payload);
    if (const json* keys = r.array("configurationKey", false)) {
        for (std::size_t i = 0; i < keys->size() && r.ok(); ++i) {
            const json& item = (*keys)[i];
            const std::string where = "configurationKey[" + std::to_string(i) + "].";
            if (!item.is_object()) {
                r.fail(ErrorCode::TypeConstraintViolation,
                       "configurationKey[" + std::to_string(i) + "] must be an object");
                break;
            }
            FieldReader k(item, where);
            ConfigurationKey ck;
            ck.key = k.string("key", true, 50).value_or("");
            ck.value = k.string("value", false, 500);
            if (!item.contains("readonly")) {
                k.fail(ErrorCode::OccurenceConstraintViolation, where + "readonly is required");
            } else if (!item["readonly"].is_boolean()) {
                k.fail(ErrorCode::TypeConstraintViolation, where + "readonly must be a boolean");
            } else {
                ck.readonly = item["readonly"].get<bool>();
            }
            if (!k.ok()) {
                r.fail(k.violation()->code, k.violation()->message);
                break;
            }
            out.configuration_key.push_back(std::move(ck));
        }
    }
    if (const json* unknown = r.array("unknownKey", false)) {
        for (const auto& u : *unknown) {
            if (!u.is_string() || u.get_ref<const std::string&>().size() > 50) {
                r.fail(ErrorCode::TypeConstraintViolation,
                       "unknownKey must hold strings of at most 50 characters");
                break;
            }
            out.unknown_key.push_back(u.get<std::string>());
        }
    }
    return done(r);
}

std::optional<Violation> parse_status_conf(std::string_view action, const json& payload,
                                           std::string& status) {
    FieldReader r(payload);
    std::optional<std::string> s;
    if (action == "ChangeAvailability") {
        s = r.enumeration("status", true, {"Accepted", "Rejected", "Scheduled"});
    } else if (action == "TriggerMessage") {
        s = r.enumeration("status", true, {"Accepted", "Rejected", "NotImplemented"});
    } else if (action == "ChangeConfiguration") {
        s = r.enumeration("status", true,
                          {"Accepted", "Rejected", "RebootRequired", "NotSupported"});
    } else {
        s = r.enumeration("status", true, {"Accepted", "Rejected"});
    }
    status = s.value_or("");
    return done(r);
}

}  // namespace gateway

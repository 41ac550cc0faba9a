// The gateway's OCPP-J framing, OCPP 1.6 message validation, times and charger registry.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "credentials.hpp"
#include "gateway/charger_registry.hpp"
#include "gateway/ocpp_frame.hpp"
#include "gateway/ocpp_messages.hpp"
#include "gateway/ocpp_time.hpp"

using namespace gateway;
using nlohmann::json;

TEST_CASE("frame: CALL, CALLRESULT and CALLERROR are read and written") {
    auto call = parse_frame(R"([2,"m1","Heartbeat",{}])");
    REQUIRE(call.frame);
    CHECK(call.frame->type == MessageType::Call);
    CHECK(call.frame->id == "m1");
    CHECK(call.frame->action == "Heartbeat");
    auto result = parse_frame(R"([3,"m2",{"status":"Accepted"}])");
    REQUIRE(result.frame);
    CHECK(result.frame->type == MessageType::CallResult);
    CHECK(result.frame->payload["status"] == "Accepted");
    auto error = parse_frame(R"([4,"m3","NotSupported","no",{}])");
    REQUIRE(error.frame);
    CHECK(error.frame->error_code == ErrorCode::NotSupported);
    CHECK(to_text(make_call("a", "Reset", json{{"type", "Soft"}})) ==
          R"([2,"a","Reset",{"type":"Soft"}])");
    CHECK(to_text(make_result("b", json::object())) == R"([3,"b",{}])");
    CHECK(to_text(make_error("c", ErrorCode::FormationViolation, "bad")) ==
          R"([4,"c","FormationViolation","bad",{}])");
}

TEST_CASE("frame: malformed frames are refused with a reason, a CALL's id kept") {
    for (const char* text : {"", "not json", "{}", "[2]", R"([9,"x",{}])", R"([2,5,"A",{}])",
                             R"([3,"x"])", R"([4,"x","Code"])", "[2,\"\",\"A\",{}]"}) {
        const auto p = parse_frame(text);
        CHECK_FALSE(p.frame);
        CHECK_FALSE(p.error.reason.empty());
        CHECK_FALSE(p.error.call);
    }
    const auto long_id = parse_frame("[2,\"" + std::string(37, 'x') + "\",\"A\",{}]");
    CHECK_FALSE(long_id.frame);
    const auto not_object = parse_frame(R"([2,"id7","BootNotification",[]])");
    REQUIRE_FALSE(not_object.frame);
    CHECK(not_object.error.call);
    CHECK(not_object.error.id == "id7");
    CHECK(not_object.error.code == ErrorCode::FormationViolation);
    const auto no_action = parse_frame(R"([2,"id8",7,{}])");
    CHECK(no_action.error.call);
    CHECK(no_action.error.code == ErrorCode::ProtocolError);
}

TEST_CASE("time: OCPP dateTime with Z, offsets and fractions - bad dates refused") {
    CHECK(parse_ocpp_time("1970-01-01T00:00:00Z") == 0);
    CHECK(parse_ocpp_time("1970-01-01T00:00:01.5Z") == 1500);
    CHECK(parse_ocpp_time("1970-01-01T08:00:00+08:00") == 0);
    CHECK(parse_ocpp_time("1970-01-01T00:00:00.123456-01:00") == 3'600'123);
    CHECK_FALSE(parse_ocpp_time("2026-02-30T00:00:00Z"));
    CHECK_FALSE(parse_ocpp_time("2026-01-01T00:00:00"));  // no zone
    CHECK_FALSE(parse_ocpp_time("2026-01-01 00:00:00Z"));
    CHECK_FALSE(parse_ocpp_time("2026-01-01T00:00:00Zjunk"));
    const auto t = parse_ocpp_time("2026-11-25T08:03:51.250Z");
    REQUIRE(t);
    CHECK(format_ocpp_time(*t) == "2026-11-25T08:03:51.250Z");
}

TEST_CASE("messages: required, type, enumeration and length violations get their codes") {
    BootNotificationReq boot;
    CHECK_FALSE(parse(json{{"chargePointVendor", "V"}, {"chargePointModel", "M"}}, boot));
    auto v = parse(json{{"chargePointModel", "M"}}, boot);
    REQUIRE(v);
    CHECK(v->code == ErrorCode::OccurenceConstraintViolation);
    v = parse(json{{"chargePointVendor", std::string(21, 'v')}, {"chargePointModel", "M"}}, boot);
    REQUIRE(v);
    CHECK(v->code == ErrorCode::PropertyConstraintViolation);
    v = parse(json{{"chargePointVendor", 5}, {"chargePointModel", "M"}}, boot);
    REQUIRE(v);
    CHECK(v->code == ErrorCode::TypeConstraintViolation);
    v = parse(json::array(), boot);
    REQUIRE(v);
    CHECK(v->code == ErrorCode::FormationViolation);

    StatusNotificationReq st;
    CHECK_FALSE(
        parse(json{{"connectorId", 1}, {"errorCode", "NoError"}, {"status", "Charging"}}, st));
    v = parse(json{{"connectorId", 1}, {"errorCode", "NoError"}, {"status", "Busy"}}, st);
    REQUIRE(v);
    CHECK(v->code == ErrorCode::PropertyConstraintViolation);
    v = parse(json{{"connectorId", "1"}, {"errorCode", "NoError"}, {"status", "Charging"}}, st);
    REQUIRE(v);
    CHECK(v->code == ErrorCode::TypeConstraintViolation);
    v = parse(json{{"connectorId", 1.5}, {"errorCode", "NoError"}, {"status", "Charging"}}, st);
    REQUIRE(v);
    CHECK(v->code == ErrorCode::TypeConstraintViolation);

    StartTransactionReq start;
    v = parse(json{{"connectorId", 1}, {"idTag", "T"}, {"meterStart", 0}}, start);  // no timestamp
    REQUIRE(v);
    CHECK(v->code == ErrorCode::OccurenceConstraintViolation);
    v = parse(json{{"connectorId", 1},
                   {"idTag", std::string(21, 't')},
                   {"meterStart", 0},
                   {"timestamp", "2026-01-01T00:00:00Z"}},
              start);
    REQUIRE(v);
    CHECK(v->code == ErrorCode::PropertyConstraintViolation);

    std::string status;
    CHECK_FALSE(parse_status_conf("ChangeAvailability", json{{"status", "Scheduled"}}, status));
    CHECK(status == "Scheduled");
    CHECK(parse_status_conf("RemoteStartTransaction", json{{"status", "Scheduled"}}, status));
    CHECK(parse_status_conf("RemoteStartTransaction", json::object(), status));
}

TEST_CASE("messages: the energy register in Wh or kWh, per phase summed, other values ignored") {
    MeterValuesReq req;
    const json payload = {
        {"connectorId", 1},
        {"transactionId", 7},
        {"meterValue",
         {{{"timestamp", "2026-01-01T00:00:00Z"},
           {"sampledValue",
            {{{"value", "1500"}},  // default measurand and unit: Energy.Active.Import.Register, Wh
             {{"value", "11000"}, {"measurand", "Power.Active.Import"}, {"unit", "W"}},
             {{"value", "230"}, {"measurand", "Voltage"}, {"unit", "V"}}}}}}}};
    REQUIRE_FALSE(parse(payload, req));
    REQUIRE(req.meter_values.size() == 1);
    CHECK(energy_import_kwh(req.meter_values[0]) == Approx(1.5));
    CHECK(power_import_kw(req.meter_values[0]) == Approx(11));

    MeterValue kwh;
    kwh.sampled.push_back({"12.25", "Energy.Active.Import.Register", "kWh", "", "", "Raw"});
    CHECK(energy_import_kwh(kwh) == Approx(12.25));
    MeterValue phases;
    for (const char* p : {"L1", "L2", "L3"}) {
        phases.sampled.push_back({"1000", "Energy.Active.Import.Register", "Wh", p, "", "Raw"});
    }
    CHECK(energy_import_kwh(phases) == Approx(3));
    MeterValue junk;
    junk.sampled.push_back({"12abc", "Energy.Active.Import.Register", "Wh", "", "", "Raw"});
    junk.sampled.push_back({"nan", "Energy.Active.Import.Register", "Wh", "", "", "Raw"});
    CHECK_FALSE(energy_import_kwh(junk));

    // The schema sets no least number of values: an empty list is valid (and carries none).
    const json no_values = {{"connectorId", 1}, {"meterValue", json::array()}};
    CHECK_FALSE(parse(no_values, req));
    const json no_list = {{"connectorId", 1}};
    const auto v = parse(no_list, req);
    REQUIRE(v);
    CHECK(v->code == ErrorCode::OccurenceConstraintViolation);
}

TEST_CASE("registry: a valid file - each error names the charger and the field") {
    const std::string ok = R"({"chargers": [
        {"identity": "CP1", "password": "secret-pass-1",
         "connectors": [{"connector": 1, "pile": "F1", "mode": "F", "power_kw": 30},
                        {"connector": 2, "pile": "T1", "mode": "T", "power_kw": 7.4}]},
        {"identity": "CP2", "password_sha256": ")" +
                           sha256_hex("another-secret") + R"(",
         "connectors": [{"connector": 1, "pile": "F2", "mode": "F", "power_kw": 50}]}]})";
    const auto r = parse_registry(ok);
    REQUIRE(r.registry);
    REQUIRE(r.registry->chargers.size() == 2);
    const ChargerSpec* cp1 = r.registry->find("CP1");
    REQUIRE(cp1 != nullptr);
    CHECK(cp1->connectors[1].pile.mode == station::Mode::Slow);
    CHECK(check_credentials(*cp1, "CP1", "secret-pass-1"));
    CHECK_FALSE(check_credentials(*cp1, "CP1", "secret-pass-2"));
    CHECK_FALSE(check_credentials(*cp1, "CP2", "secret-pass-1"));
    const ChargerSpec* cp2 = r.registry->find("CP2");
    REQUIRE(cp2 != nullptr);
    CHECK(check_credentials(*cp2, "CP2", "another-secret"));
    CHECK_FALSE(check_credentials(*cp2, "CP2", sha256_hex("another-secret")));
    CHECK(r.registry->find("CP3") == nullptr);

    auto error_of = [](const std::string& text) { return parse_registry(text).error; };
    const std::string conn =
        R"("connectors": [{"connector": 1, "pile": "F1", "mode": "F", "power_kw": 30}])";
    CHECK(error_of("[]") == "the configuration is not a JSON object");
    CHECK(error_of(R"({"chargers": []})") == "\"chargers\" must be a non-empty array");
    CHECK(error_of(R"({"chargers": [{"identity": "CP 1", "password": "12345678", )" + conn + "}]}")
              .find("chargers[0]: \"identity\"") == 0);
    CHECK(error_of(R"({"chargers": [{"identity": "CP1", )" + conn + "}]}") ==
          "chargers[0] (CP1): give exactly one of \"password\" and \"password_sha256\"");
    CHECK(error_of(R"({"chargers": [{"identity": "CP1", "password_sha256": "abc", )" + conn +
                   "}]}") ==
          "chargers[0] (CP1): \"password_sha256\" must be 64 lower-case hex digits");
    CHECK(error_of(R"({"chargers": [{"identity": "CP1", "password": "12345678", )" + conn +
                   R"(}, {"identity": "CP2", "password": "12345678", )" + conn + "}]}") ==
          "chargers[1] (CP2): connectors[0]: pile \"F1\" is used twice");
    CHECK(
        error_of(
            R"({"chargers": [{"identity": "CP1", "password": "12345678", "connectors": [{"connector": 1, "pile": "F1", "mode": "X", "power_kw": 30}]}]})") ==
        "chargers[0] (CP1): connectors[0]: \"mode\" must be \"F\" or \"T\"");
    CHECK(
        error_of(
            R"({"chargers": [{"identity": "CP1", "password": "12345678", "connectors": [{"connector": 1, "pile": "F1", "mode": "F", "power_kw": 0}]}]})") ==
        "chargers[0] (CP1): connectors[0]: \"power_kw\" must be a number above 0");
    CHECK(
        error_of(
            R"({"chargers": [{"identity": "CP1", "password": "12345678", "connectors": [{"connector": 1, "pile": "F/1", "mode": "F", "power_kw": 3}]}]})")
            .find("is not a valid pile id") != std::string::npos);
}

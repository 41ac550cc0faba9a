#include "gateway/ocpp_frame.hpp"

#include <array>
#include <utility>

namespace gateway {

using nlohmann::json;

namespace {
constexpr std::array<std::pair<ErrorCode, std::string_view>, 10> kCodes{{
    {ErrorCode::NotImplemented, "NotImplemented"},
    {ErrorCode::NotSupported, "NotSupported"},
    {ErrorCode::InternalError, "InternalError"},
    {ErrorCode::ProtocolError, "ProtocolError"},
    {ErrorCode::SecurityError, "SecurityError"},
    {ErrorCode::FormationViolation, "FormationViolation"},
    {ErrorCode::PropertyConstraintViolation, "PropertyConstraintViolation"},
    {ErrorCode::OccurenceConstraintViolation, "OccurenceConstraintViolation"},
    {ErrorCode::TypeConstraintViolation, "TypeConstraintViolation"},
    {ErrorCode::GenericError, "GenericError"},
}};
}  // namespace

std::string_view to_string(ErrorCode code) {
    for (const auto& [c, name] : kCodes) {
        if (c == code) {
            return name;
        }
    }
    return "GenericError";
}

std::optional<ErrorCode> parse_error_code(std::string_view text) {
    for (const auto& [c, name] : kCodes) {
        if (name == text) {
            return c;
        }
    }
    // OCPP 2.0.1 spells it "OccurrenceConstraintViolation"; some 1.6 stacks use that too.
    if (text == "OccurrenceConstraintViolation") {
        return ErrorCode::OccurenceConstraintViolation;
    }
    return std::nullopt;
}

FrameParse parse_frame(std::string_view text) {
    FrameParse out;
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        out.error.reason = "not JSON";
        return out;
    }
    if (!j.is_array() || j.size() < 3) {
        out.error.reason = "not an OCPP-J array of at least 3 elements";
        return out;
    }
    if (!j[0].is_number_integer()) {
        out.error.reason = "the message type is not an integer";
        return out;
    }
    const auto type = j[0].get<std::int64_t>();
    if (!j[1].is_string()) {
        out.error.reason = "the message id is not a string";
        return out;
    }
    const std::string id = j[1].get<std::string>();
    if (id.empty() || id.size() > kMaxMessageIdLength) {
        out.error.reason = "the message id is empty or longer than 36 characters";
        return out;
    }
    out.error.id = id;
    Frame f;
    f.id = id;
    if (type == 2) {
        out.error.call = true;
        if (j.size() != 4) {
            out.error.reason = "a CALL has 4 elements";
            return out;
        }
        if (!j[2].is_string() || j[2].get_ref<const std::string&>().empty()) {
            out.error.reason = "the action is not a non-empty string";
            return out;
        }
        if (!j[3].is_object()) {
            out.error.code = ErrorCode::FormationViolation;
            out.error.reason = "the payload is not a JSON object";
            return out;
        }
        f.type = MessageType::Call;
        f.action = j[2].get<std::string>();
        f.payload = j[3];
    } else if (type == 3) {
        if (j.size() != 3 || !j[2].is_object()) {
            out.error.reason = "a CALLRESULT is [3, id, {payload}]";
            return out;
        }
        f.type = MessageType::CallResult;
        f.payload = j[2];
    } else if (type == 4) {
        if (j.size() != 5 || !j[2].is_string() || !j[3].is_string() || !j[4].is_object()) {
            out.error.reason = "a CALLERROR is [4, id, code, description, {details}]";
            return out;
        }
        f.type = MessageType::CallError;
        f.error_code = parse_error_code(j[2].get<std::string>()).value_or(ErrorCode::GenericError);
        f.error_description = j[3].get<std::string>();
        f.payload = j[4];
    } else {
        out.error.reason = "unknown message type " + std::to_string(type);
        return out;
    }
    out.frame = std::move(f);
    return out;
}

std::string to_text(const Frame& f) {
    json j;
    switch (f.type) {
        case MessageType::Call:
            j = json::array({2, f.id, f.action, f.payload});
            break;
        case MessageType::CallResult:
            j = json::array({3, f.id, f.payload});
            break;
        case MessageType::CallError:
            j = json::array({4, f.id, std::string(to_string(f.error_code)), f.error_description,
                             f.payload.is_object() ? f.payload : json::object()});
            break;
    }
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Frame make_call(std::string id, std::string action, json payload) {
    Frame f;
    f.type = MessageType::Call;
    f.id = std::move(id);
    f.action = std::move(action);
    f.payload = std::move(payload);
    return f;
}

Frame make_result(std::string id, json payload) {
    Frame f;
    f.type = MessageType::CallResult;
    f.id = std::move(id);
    f.payload = std::move(payload);
    return f;
}

Frame make_error(std::string id, ErrorCode code, std::string description) {
    Frame f;
    f.type = MessageType::CallError;
    f.id = std::move(id);
    f.error_code = code;
    // The description is free text; keep it short (some stacks cap it).
    if (description.size() > 255) {
        description.resize(255);
    }
    f.error_description = std::move(description);
    f.payload = json::object();
    return f;
}

}  // namespace gateway

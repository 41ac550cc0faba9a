#pragma once
/// @file OCPP-J framing (OCPP 1.6 JSON, section 4): every WebSocket text message is one of
///   CALL        [2, "<id>", "<Action>", {payload}]
///   CALLRESULT  [3, "<id>", {payload}]
///   CALLERROR   [4, "<id>", "<errorCode>", "<description>", {details}]
/// Parsing treats the text as untrusted: it never throws and says why a frame was refused.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace gateway {

/// The largest text frame taken from a charger; a larger one closes the connection.
inline constexpr std::size_t kMaxFrameBytes = 64 * 1024;
/// Message ids are at most 36 characters (OCPP-J 4.1.3: "maximum of 36 characters").
inline constexpr std::size_t kMaxMessageIdLength = 36;

enum class MessageType { Call = 2, CallResult = 3, CallError = 4 };

/// The CALLERROR codes of OCPP-J 1.6 (section 4.2.3), as written there (sic
/// "OccurenceConstraintViolation").
enum class ErrorCode {
    NotImplemented,
    NotSupported,
    InternalError,
    ProtocolError,
    SecurityError,
    FormationViolation,
    PropertyConstraintViolation,
    OccurenceConstraintViolation,
    TypeConstraintViolation,
    GenericError
};
std::string_view to_string(ErrorCode code);
std::optional<ErrorCode> parse_error_code(std::string_view text);

/// One frame. `action` for CALL; `payload` for CALL and CALLRESULT (the details for
/// CALLERROR); `error_code` and `error_description` for CALLERROR.
struct Frame {
    MessageType type = MessageType::Call;
    std::string id;
    std::string action;
    nlohmann::json payload = nlohmann::json::object();
    ErrorCode error_code = ErrorCode::GenericError;
    std::string error_description;
};

/// A frame refused: why, and the message id when one could be read (so that a CALL can
/// be answered with a CALLERROR of that id).
struct FrameError {
    std::string reason;
    std::string id;     ///< "" when the id could not be read
    bool call = false;  ///< the frame looked like a CALL (type 2) with a readable id
    ErrorCode code = ErrorCode::ProtocolError;
};

/// Either a frame or the reason it was refused.
struct FrameParse {
    std::optional<Frame> frame;
    FrameError error;
};

/// Parses one text message (any size is accepted here; the adapter caps frames first).
FrameParse parse_frame(std::string_view text);

std::string to_text(const Frame& frame);
Frame make_call(std::string id, std::string action, nlohmann::json payload);
Frame make_result(std::string id, nlohmann::json payload);
Frame make_error(std::string id, ErrorCode code, std::string description);

}  // namespace gateway

#pragma once
/// @file The WebSocket protocol of station-gateway's event loop (RFC 6455), as pure
/// functions over bytes: the HTTP upgrade request a charger opens with (OCPP-J 1.6 §3:
/// GET /ocpp/{identity}, subprotocol ocpp1.6, HTTP Basic for security profiles 1 and 2),
/// the answers to it, and the frames both ways. No socket, no clock: ws_server.cpp feeds
/// them what it read and writes what they return. Everything read is untrusted: nothing
/// here throws on any input, and every buffer is bounded by the limits passed in.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gateway::ws {

/// The largest HTTP head of an upgrade request; a larger one is refused (431).
inline constexpr std::size_t kMaxHeadBytes = 8 * 1024;

/// Where the HTTP head in `in` ends (just past its empty line; lines end in CRLF or LF),
/// or nothing while it is incomplete.
std::optional<std::size_t> find_head_end(std::string_view in);

/// What an upgrade request says, read from its head (request line and fields). `status`
/// 0 means the head is well-formed HTTP/1.1; otherwise it is the status to refuse with
/// (400, 404, 405, 426, 505) and `problem` says why. The upgrade conditions are read but
/// not judged here, so that the shell can check credentials first (an unknown identity
/// learns nothing else): `upgrade_problem` is what `accept_key` or the headers lack.
struct UpgradeRequest {
    int status = 0;
    std::string problem;
    std::string identity;  ///< the path's last segment after /ocpp/ (valid_identity)
    bool has_basic = false;
    std::string user;
    std::string password;
    bool offers_ocpp16 = false;  ///< Sec-WebSocket-Protocol lists ocpp1.6
    int upgrade_status = 0;      ///< 0: a valid WebSocket upgrade; else 400 or 426
    std::string upgrade_problem;
    std::string key;  ///< Sec-WebSocket-Key as sent (24 characters of base64)
};

/// Reads an upgrade request head (what `find_head_end` delimited, the empty line included).
UpgradeRequest parse_upgrade(std::string_view head);

/// The Sec-WebSocket-Accept value for a key: base64(SHA-1(key + RFC 6455's GUID)).
std::string accept_key(std::string_view key);

/// The 101 answer accepting the upgrade with the subprotocol ocpp1.6.
std::string accept_response(std::string_view key);

/// A refusal: status line, `Connection: close`, a text/plain body; with
/// `ask_credentials` a `WWW-Authenticate: Basic` challenge, with status 426 the version
/// the server speaks.
std::string refusal_response(int status, std::string_view text, bool ask_credentials = false);

/// Standard base64 (RFC 4648 §4) with padding.
std::string base64_encode(std::string_view bytes);
/// Decodes standard base64 with padding; nothing if it is not.
std::optional<std::string> base64_decode(std::string_view text);

/// Whether `text` is well-formed UTF-8 (RFC 3629: no overlongs, surrogates, or code
/// points above U+10FFFF).
bool valid_utf8(std::string_view text);

enum class Opcode : std::uint8_t {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA
};

/// Close codes used by the server (RFC 6455 §7.4.1).
enum CloseCode : std::uint16_t {
    kCloseNormal = 1000,
    kCloseGoingAway = 1001,
    kCloseProtocolError = 1002,
    kCloseUnsupported = 1003,
    kCloseNoStatus = 1005,
    kCloseBadPayload = 1007,
    kClosePolicy = 1008,
    kCloseTooBig = 1009,
};

/// A server frame (never masked, FIN set) carrying `payload`.
std::string encode_frame(Opcode opcode, std::string_view payload);
/// A Close frame with `code` (none for kCloseNoStatus) and a reason cut to fit 125 bytes.
std::string encode_close(std::uint16_t code, std::string_view reason);

/// What the decoder found next in a client's byte stream.
struct Event {
    enum class Kind {
        NeedMore,  ///< nothing complete yet
        Text,      ///< a whole text message (fragments joined), valid UTF-8
        Ping,      ///< answer with a Pong carrying `data`
        Pong,
        Close,  ///< the client closes: `code` (kCloseNoStatus if none), `data` its reason
        Error   ///< a protocol violation: close with `code`, `data` says why
    };
    Kind kind = Kind::NeedMore;
    std::string data;
    std::uint16_t code = 0;
};

/// Reads client frames from a byte stream: requires masking, no extensions (RSV bits
/// clear), control frames of at most 125 bytes and not fragmented, text messages (binary
/// ones are refused with 1003) of at most `max_message` bytes in all their fragments.
/// Holds at most one frame's header and payload and one message under assembly. After a
/// Close or an Error it decodes nothing more.
class Decoder {
  public:
    explicit Decoder(std::size_t max_message) : max_message_(max_message) {}

    /// Takes bytes read from the client.
    void feed(std::string_view bytes) { in_.append(bytes.data(), bytes.size()); }
    /// The next event; call until it says NeedMore (or Close or Error).
    Event next();
    /// Bytes held (undecoded input and the message under assembly).
    std::size_t buffered() const { return in_.size() - pos_ + message_.size(); }
    bool finished() const { return finished_; }

  private:
    Event fail(std::uint16_t code, std::string why);

    std::size_t max_message_;
    std::string in_;
    std::size_t pos_ = 0;  ///< where the undecoded input starts in in_
    std::string message_;
    bool in_message_ = false;  ///< a text message's first fragment was read, not its last
    bool finished_ = false;
};

}  // namespace gateway::ws

#include "ws_protocol.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <vector>

#include "gateway/charger_registry.hpp"

namespace gateway::ws {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::string_view kPrefix = "/ocpp/";
constexpr std::size_t kMaxFields = 100;
constexpr std::size_t kKeepCapacity = 4096;
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char lower(char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) {
        return {};
    }
    const auto e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

bool is_tchar(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) != 0 || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

/// Whether a comma-separated list holds `item` (compared case-insensitively or not).
bool list_has(std::string_view list, std::string_view item, bool ignore_case) {
    std::size_t pos = 0;
    while (pos <= list.size()) {
        auto comma = list.find(',', pos);
        if (comma == std::string_view::npos) {
            comma = list.size();
        }
        const auto element = trim(list.substr(pos, comma - pos));
        if (ignore_case ? iequals(element, item) : element == item) {
            return true;
        }
        pos = comma + 1;
    }
    return false;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/// %XX escapes decoded; nothing if one is malformed or decodes to a control character.
std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) {
            return std::nullopt;
        }
        const int hi = hex_value(s[i + 1]);
        const int lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0 || hi * 16 + lo < 0x20) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 426:
            return "Upgrade Required";
        case 431:
            return "Request Header Fields Too Large";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Error";
    }
}

}  // namespace

std::optional<std::size_t> find_head_end(std::string_view in) {
    std::size_t pos = 0;
    while (true) {
        const auto nl = in.find('\n', pos);
        if (nl == std::string_view::npos) {
            return std::nullopt;
        }
        const std::size_t len = nl - pos - (nl > pos && in[nl - 1] == '\r' ? 1 : 0);
        if (len == 0 && pos > 0) {
            return nl + 1;
        }
        pos = nl + 1;
    }
}

UpgradeRequest parse_upgrade(std::string_view head) {
    UpgradeRequest r;
    auto refuse = [&r](int status, std::string problem) {
        r.status = status;
        r.problem = std::move(problem);
        return r;
    };
    std::vector<std::string_view> lines;
    for (std::size_t from = 0; from < head.size();) {
        auto nl = head.find('\n', from);
        if (nl == std::string_view::npos) {
            nl = head.size();
        }
        std::string_view line = head.substr(from, nl - from);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.find('\r') != std::string_view::npos ||
            line.find('\0') != std::string_view::npos) {
            return refuse(400, "malformed request head");
        }
        lines.push_back(line);
        from = nl + 1;
    }
    while (!lines.empty() && lines.back().empty()) {
        lines.pop_back();
    }
    if (lines.empty()) {
        return refuse(400, "empty request");
    }
    // Request line: method SP request-target SP HTTP-version.
    const std::string_view line = lines.front();
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        return refuse(400, "malformed request line");
    }
    const std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" ||
        !std::isdigit(static_cast<unsigned char>(version[5])) || version[6] != '.' ||
        !std::isdigit(static_cast<unsigned char>(version[7]))) {
        return refuse(400, "malformed HTTP version");
    }
    if (version[5] != '1') {
        return refuse(505, "HTTP/1.1 is required");
    }
    if (method.empty() || !std::all_of(method.begin(), method.end(), is_tchar)) {
        return refuse(400, "malformed method");
    }
    // Absolute form (RFC 9112 §3.2.2): only the path counts.
    for (const std::string_view scheme : {"http://", "https://", "ws://", "wss://"}) {
        if (target.size() > scheme.size() && iequals(target.substr(0, scheme.size()), scheme)) {
            const auto slash = target.find('/', scheme.size());
            target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
            break;
        }
    }
    if (target.empty() || target.front() != '/') {
        return refuse(400, "malformed request target");
    }
    const std::string_view path = target.substr(0, target.find_first_of("?#"));
    const auto decoded = percent_decode(path);
    if (decoded && decoded->rfind(kPrefix, 0) == 0) {
        r.identity = decoded->substr(kPrefix.size());
    }
    if (!valid_identity(r.identity)) {
        r.identity.clear();
        return refuse(404, "use /ocpp/{identity}");
    }
    if (method != "GET") {
        return refuse(405, "a WebSocket upgrade is a GET");
    }

    bool upgrade_websocket = false;
    bool connection_upgrade = false;
    std::string_view ws_version;
    int keys = 0;
    if (lines.size() - 1 > kMaxFields) {
        return refuse(400, "too many header fields");
    }
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const std::string_view field = lines[i];
        const auto colon = field.find(':');
        if (colon == std::string_view::npos || colon == 0 ||
            !std::all_of(field.begin(), field.begin() + static_cast<std::ptrdiff_t>(colon),
                         is_tchar)) {
            return refuse(400, "malformed header field");
        }
        const std::string_view name = field.substr(0, colon);
        const std::string_view value = trim(field.substr(colon + 1));
        if (iequals(name, "Upgrade")) {
            upgrade_websocket = upgrade_websocket || list_has(value, "websocket", true);
        } else if (iequals(name, "Connection")) {
            connection_upgrade = connection_upgrade || list_has(value, "upgrade", true);
        } else if (iequals(name, "Sec-WebSocket-Version")) {
            ws_version = value;
        } else if (iequals(name, "Sec-WebSocket-Key")) {
            ++keys;
            r.key = std::string(value);
        } else if (iequals(name, "Sec-WebSocket-Protocol")) {
            r.offers_ocpp16 = r.offers_ocpp16 || list_has(value, "ocpp1.6", false);
        } else if (iequals(name, "Authorization")) {
            if (r.has_basic) {
                return refuse(400, "more than one Authorization field");
            }
            const auto sp = value.find(' ');
            if (sp == std::string_view::npos || !iequals(value.substr(0, sp), "Basic")) {
                continue;  // another scheme: no credentials
            }
            const auto plain = base64_decode(trim(value.substr(sp + 1)));
            const auto sep = plain ? plain->find(':') : std::string::npos;
            if (sep == std::string::npos) {
                continue;
            }
            r.has_basic = true;
            r.user = plain->substr(0, sep);
            r.password = plain->substr(sep + 1);
        }
    }
    if (version != "HTTP/1.1") {
        r.upgrade_status = 400;
        r.upgrade_problem = "a WebSocket upgrade needs HTTP/1.1";
    } else if (!upgrade_websocket || !connection_upgrade) {
        r.upgrade_status = 400;
        r.upgrade_problem = "not a WebSocket upgrade";
    } else if (ws_version != "13") {
        r.upgrade_status = 426;
        r.upgrade_problem = "WebSocket version 13 is required";
    } else if (keys != 1 || r.key.size() != 24 || !base64_decode(r.key) ||
               base64_decode(r.key)->size() != 16) {
        r.upgrade_status = 400;
        r.upgrade_problem = "a bad Sec-WebSocket-Key";
    }
    return r;
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const std::uint32_t v =
            (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
            (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
            static_cast<unsigned char>(bytes[i + 2]);
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(kAlphabet[(v >> 6) & 63]);
        out.push_back(kAlphabet[v & 63]);
    }
    if (i < bytes.size()) {
        std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
        const bool two = i + 1 < bytes.size();
        if (two) {
            v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
        }
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(two ? kAlphabet[(v >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        std::uint32_t v = 0;
        int pad = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            const char c = text[i + j];
            int d = -1;
            if (c == '=' && i + 4 == text.size() && j >= 2) {
                ++pad;
                d = 0;
            } else if (pad == 0) {
                const char* at = std::strchr(kAlphabet, c);
                d = (at != nullptr && c != '\0') ? static_cast<int>(at - kAlphabet) : -1;
            }
            if (d < 0) {
                return std::nullopt;
            }
            v = (v << 6) | static_cast<std::uint32_t>(d);
        }
        out.push_back(static_cast<char>((v >> 16) & 0xFF));
        if (pad < 2) {
            out.push_back(static_cast<char>((v >> 8) & 0xFF));
        }
        if (pad < 1) {
            out.push_back(static_cast<char>(v & 0xFF));
        }
    }
    return out;
}

std::string accept_key(std::string_view key) {
    std::string input(key);
    input.append(kGuid);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_sha1(), nullptr) != 1) {
        return {};
    }
    return base64_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

std::string accept_response(std::string_view key) {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " +
           accept_key(key) + "\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n";
}

std::string refusal_response(int status, std::string_view text, bool ask_credentials) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                      std::string(reason_phrase(status)) +
                      "\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: " +
                      std::to_string(text.size()) + "\r\n";
    if (ask_credentials) {
        out += "WWW-Authenticate: Basic realm=\"ocpp\"\r\n";
    }
    if (status == 426) {
        out += "Sec-WebSocket-Version: 13\r\n";
    }
    out += "\r\n";
    out.append(text);
    return out;
}

bool valid_utf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t n = 0;
        std::uint32_t cp = 0;
        std::uint32_t min = 0;
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (i + n >= text.size()) {
            return false;
        }
        for (std::size_t k = 1; k <= n; ++k) {
            const auto cc = static_cast<unsigned char>(text[i + k]);
            if ((cc & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

std::string encode_frame(Opcode opcode, std::string_view payload) {
    std::string out;
    out.reserve(payload.size() + 10);
    out.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode)));
    const std::uint64_t n = payload.size();
    if (n < 126) {
        out.push_back(static_cast<char>(n));
    } else if (n <= 0xFFFF) {
        out.push_back(static_cast<char>(126));
        out.push_back(static_cast<char>((n >> 8) & 0xFF));
        out.push_back(static_cast<char>(n & 0xFF));
    } else {
        out.push_back(static_cast<char>(127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((n >> shift) & 0xFF));
        }
    }
    out.append(payload);
    return out;
}

std::string encode_close(std::uint16_t code, std::string_view reason) {
    if (code == kCloseNoStatus) {
        return encode_frame(Opcode::Close, {});
    }
    std::string payload;
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    std::size_t n = std::min<std::size_t>(reason.size(), 123);
    // Cut on a character boundary, so that the reason stays UTF-8.
    while (n > 0 && n < reason.size() && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) {
        --n;
    }
    payload.append(reason.substr(0, n));
    return encode_frame(Opcode::Close, payload);
}

Event Decoder::fail(std::uint16_t code, std::string why) {
    finished_ = true;
    in_.clear();
    pos_ = 0;
    message_.clear();
    return Event{Event::Kind::Error, std::move(why), code};
}

Event Decoder::next() {
    while (!finished_) {
        const std::size_t avail = in_.size() - pos_;
        const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + pos_);
        if (avail < 2) {
            break;
        }
        const bool fin = (p[0] & 0x80) != 0;
        const unsigned op = p[0] & 0x0F;
        if ((p[0] & 0x70) != 0) {
            return fail(kCloseProtocolError, "reserved bits set (no extension was agreed)");
        }
        if (op != 0x0 && op != 0x1 && op != 0x2 && op != 0x8 && op != 0x9 && op != 0xA) {
            return fail(kCloseProtocolError, "unknown opcode " + std::to_string(op));
        }
        if ((p[1] & 0x80) == 0) {
            return fail(kCloseProtocolError, "a client frame must be masked");
        }
        std::size_t header = 2;
        std::uint64_t length = p[1] & 0x7F;
        if (length == 126) {
            if (avail < 4) {
                break;
            }
            length = (static_cast<std::uint64_t>(p[2]) << 8) | p[3];
            header = 4;
        } else if (length == 127) {
            if (avail < 10) {
                break;
            }
            length = 0;
            for (int k = 2; k < 10; ++k) {
                length = (length << 8) | p[k];
            }
            if ((length >> 63) != 0) {
                return fail(kCloseProtocolError, "a frame length with its top bit set");
            }
            header = 10;
        }
        const bool control = op >= 0x8;
        if (control && (!fin || length > 125)) {
            return fail(kCloseProtocolError, "a control frame fragmented or over 125 bytes");
        }
        if (op == 0x2) {
            return fail(kCloseUnsupported, "text frames only");
        }
        if (op == 0x0 && !in_message_) {
            return fail(kCloseProtocolError, "a continuation frame without a message");
        }
        if (op == 0x1 && in_message_) {
            return fail(kCloseProtocolError, "a new message before the last one ended");
        }
        if (!control && length > max_message_ - message_.size()) {
            return fail(kCloseTooBig, "a message over " + std::to_string(max_message_) + " bytes");
        }
        header += 4;
        if (avail < header + length) {
            break;
        }
        const unsigned char* mask = p + header - 4;
        std::string payload(in_.data() + pos_ + header, static_cast<std::size_t>(length));
        for (std::size_t k = 0; k < payload.size(); ++k) {
            payload[k] = static_cast<char>(static_cast<unsigned char>(payload[k]) ^ mask[k % 4]);
        }
        pos_ += header + static_cast<std::size_t>(length);
        if (op == 0x9) {
            return Event{Event::Kind::Ping, std::move(payload), 0};
        }
        if (op == 0xA) {
            return Event{Event::Kind::Pong, std::move(payload), 0};
        }
        if (op == 0x8) {
            if (payload.size() == 1) {
                return fail(kCloseProtocolError, "a close frame of one byte");
            }
            std::uint16_t code = kCloseNoStatus;
            std::string reason;
            if (payload.size() >= 2) {
                code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                  static_cast<unsigned char>(payload[1]));
                const bool known = (code >= 1000 && code <= 1003) ||
                                   (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
                if (!known) {
                    return fail(kCloseProtocolError, "close code " + std::to_string(code));
                }
                reason = payload.substr(2);
                if (!valid_utf8(reason)) {
                    return fail(kCloseBadPayload, "a close reason that is not UTF-8");
                }
            }
            finished_ = true;
            in_.clear();
            pos_ = 0;
            return Event{Event::Kind::Close, std::move(reason), code};
        }
        message_ += payload;
        in_message_ = true;
        if (fin) {
            in_message_ = false;
            std::string text;
            text.swap(message_);
            if (!valid_utf8(text)) {
                return fail(kCloseBadPayload, "a text message that is not UTF-8");
            }
            return Event{Event::Kind::Text, std::move(text), 0};
        }
    }
    if (pos_ > 0) {
        in_.erase(0, pos_);
        pos_ = 0;
    }
    // An idle connection keeps no buffer of the size of its largest message.
    if (in_.empty() && in_.capacity() > kKeepCapacity) {
        std::string().swap(in_);
    }
    if (message_.empty() && message_.capacity() > kKeepCapacity) {
        std::string().swap(message_);
    }
    return Event{};
}

}  // namespace gateway::ws

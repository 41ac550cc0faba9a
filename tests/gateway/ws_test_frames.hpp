#pragma once
// Frames as a WebSocket client sends them (RFC 6455: masked), for the gateway's protocol
// and server tests.
#include <cstdint>
#include <string>

namespace ws_test {

/// A client frame: masked with `mask`, FIN as given.
inline std::string client_frame(std::uint8_t opcode, const std::string& payload, bool fin = true,
                                std::uint32_t mask = 0x37fa213d) {
    std::string out;
    out.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
    const std::size_t n = payload.size();
    if (n < 126) {
        out.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xFFFF) {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>(n >> 8));
        out.push_back(static_cast<char>(n & 0xFF));
    } else {
        out.push_back(static_cast<char>(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xFF));
        }
    }
    const char m[4] = {static_cast<char>(mask >> 24), static_cast<char>(mask >> 16),
                       static_cast<char>(mask >> 8), static_cast<char>(mask)};
    out.append(m, 4);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(static_cast<char>(payload[i] ^ m[i % 4]));
    }
    return out;
}

}  // namespace ws_test

// Fuzz target: access tokens (api/tokens.hpp), which every authenticated request brings.
// The first byte says how the rest is used:
//   'r' (or any byte not below): the rest is a token as a client sends it, verified as is;
//   's': the rest is "HEADER\nPAYLOAD", two JSON texts that the harness signs with the
//        server's key (HS256) — what only the server can make, so that the claims reader
//        behind the signature check is reached;
//   'i': the rest gives a subject, role, time and version to issue a token with.
// Properties: verify never throws or crashes; it accepts only claims within their rules
// (admin or client, a subject of digits, unexpired); an issued token verifies to what it
// was issued with until it expires.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "api/tokens.hpp"
#include "fuzz_support.hpp"

namespace {

const std::string kSecret(32, 'k');
constexpr std::int64_t kLifetime = 3600;
constexpr std::int64_t kNow = 1'800'000'000;

std::string base64url(std::string_view bytes) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : bytes) {
        acc = (acc << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kAlphabet[(acc >> bits) & 0x3FU]);
        }
    }
    if (bits > 0) {
        out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3FU]);
    }
    return out;
}

std::string sign(std::string_view header, std::string_view payload) {
    const std::string input = base64url(header) + "." + base64url(payload);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
    return input + "." + base64url(std::string_view(reinterpret_cast<const char*>(mac), length));
}

void check_claims(const std::optional<api::TokenClaims>& claims, std::string_view token) {
    if (claims) {
        fuzz::check(claims->expires_s > kNow, "an expired token verifies", token);
        fuzz::check(claims->subject >= 0, "a token with a negative subject verifies", token);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    static const api::TokenService tokens(kSecret, kLifetime);
    std::string_view rest = fuzz::text(data + 1, size - 1);
    switch (data[0]) {
        case 's': {
            const std::string_view header = fuzz::take_until(rest, '\n');
            const std::string token = sign(header, rest);
            check_claims(tokens.verify(token, kNow), token);
            break;
        }
        case 'i': {
            // subject (8 bytes), role (1), now (4, seconds after kNow), version (4)
            std::uint8_t raw[17] = {};
            std::memcpy(raw, rest.data(), std::min(rest.size(), sizeof raw));
            std::int64_t subject = 0;
            for (int i = 0; i < 8; ++i) {
                subject = (subject << 8) | raw[i];
            }
            subject = (subject & 0x7FFFFFFFFFFFFFFF) % 1'000'000'000'000'000'000;  // ids: 18 digits
            const api::Role role = (raw[8] & 1U) != 0 ? api::Role::Admin : api::Role::Client;
            const std::int64_t now = kNow + ((raw[9] << 16) | (raw[10] << 8) | raw[11]);
            const std::int64_t version = (raw[12] << 8) | raw[13];
            const std::string token = tokens.issue(subject, role, now, version);
            const auto claims = tokens.verify(token, now);
            fuzz::check(claims.has_value(), "an issued token does not verify", token);
            fuzz::check(claims->subject == subject && claims->role == role &&
                            claims->expires_s == now + kLifetime && claims->version == version,
                        "an issued token verifies to other claims", token);
            fuzz::check(!tokens.verify(token, now + kLifetime), "a token verifies at its expiry",
                        token);
            break;
        }
        default: {
            const std::string token(rest);
            check_claims(tokens.verify(token, kNow), token);
            break;
        }
    }
    return 0;
}

#include "api/tokens.hpp"

#include <Poco/Crypto/OpenSSLInitializer.h>
#include <Poco/JSON/Object.h>
#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>

namespace api {

namespace {

constexpr const char* kRoleClaim = "role";

const char* role_name(Role r) {
    return r == Role::Admin ? "admin" : "client";
}

/// A whole-number claim within ±2^53 (what a JSON number holds exactly); nothing for
/// any other value, which a cast to an integer would make undefined behaviour.
std::optional<std::int64_t> integer_claim(const Poco::JSON::Object& payload, const char* key) {
    const double value = payload.getValue<double>(key);
    constexpr double kLimit = 9007199254740992.0;  // 2^53
    if (!(value >= -kLimit && value <= kLimit)) {
        return std::nullopt;
    }
    const auto whole = static_cast<std::int64_t>(value);
    if (static_cast<double>(whole) != value) {
        return std::nullopt;
    }
    return whole;
}

}  // namespace

TokenService::TokenService(std::string secret, std::int64_t lifetime_s)
    : secret_(std::move(secret)), lifetime_s_(lifetime_s) {
    // POCO 1.11 sets OpenSSL up and tears it down as the reference count of its
    // OpenSSLInitializer goes 0 -> 1 -> 0, once per HMAC; under concurrent requests that
    // races (a double free, found by ASan under wrk). One reference held for the life of
    // the process keeps the count above zero.
    static const Poco::Crypto::OpenSSLInitializer keep_openssl;
}

std::string TokenService::issue(std::int64_t subject, Role role, std::int64_t now_s,
                                std::int64_t version) const {
    Poco::JWT::Token token;
    token.setType("JWT");
    token.setSubject(std::to_string(subject));
    // Integer seconds (RFC 7519 NumericDate): POCO's setExpiration writes a fraction.
    token.payload().set("iat", static_cast<Poco::Int64>(now_s));
    token.payload().set("exp", static_cast<Poco::Int64>(now_s + lifetime_s_));
    token.payload().set(kRoleClaim, std::string(role_name(role)));
    token.payload().set("ver", static_cast<Poco::Int64>(version));
    Poco::JWT::Signer signer(secret_);
    return signer.sign(token, Poco::JWT::Signer::ALGO_HS256);
}

std::optional<TokenClaims> TokenService::verify(const std::string& text, std::int64_t now_s) const {
    if (text.empty() || text.size() > 4096) {
        return std::nullopt;
    }
    std::optional<TokenClaims> claims;
    {
        std::lock_guard lock(verified_->mutex);
        if (const auto it = verified_->claims.find(text); it != verified_->claims.end()) {
            claims = it->second;
        }
    }
    if (!claims) {
        claims = check_signature(text);
        if (!claims) {
            return std::nullopt;
        }
        std::lock_guard lock(verified_->mutex);
        if (verified_->claims.size() >= kRemembered) {
            verified_->claims.clear();  // simpler than an LRU, and a round of them is cheap
        }
        verified_->claims.emplace(text, *claims);
    }
    if (claims->expires_s <= now_s) {
        return std::nullopt;
    }
    return claims;
}

std::optional<TokenClaims> TokenService::check_signature(const std::string& text) const {
    try {
        // Only HS256 is accepted (the Signer's default set); POCO does not check expiry.
        Poco::JWT::Signer signer(secret_);
        Poco::JWT::Token token;
        if (!signer.tryVerify(text, token) ||
            token.getAlgorithm() != Poco::JWT::Signer::ALGO_HS256) {
            return std::nullopt;
        }
        const auto& payload = token.payload();
        if (!payload.has("exp") || !payload.has(kRoleClaim) || !payload.has("sub")) {
            return std::nullopt;
        }
        const auto expires_s = integer_claim(payload, "exp");
        const auto version =
            payload.has("ver") ? integer_claim(payload, "ver") : std::optional<std::int64_t>(0);
        if (!expires_s || !version) {
            return std::nullopt;
        }
        TokenClaims claims;
        claims.expires_s = *expires_s;
        const std::string role = payload.getValue<std::string>(kRoleClaim);
        const std::string sub = payload.getValue<std::string>("sub");
        if ((role != "admin" && role != "client") || sub.empty() || sub.size() > 18 ||
            sub.find_first_not_of("0123456789") != std::string::npos) {
            return std::nullopt;
        }
        claims.role = role == "admin" ? Role::Admin : Role::Client;
        claims.version = *version;
        claims.subject = std::stoll(sub);
        return claims;
    } catch (...) {
        // Malformed base64 or JSON makes POCO throw even from tryVerify (stack-notes).
        return std::nullopt;
    }
}

}  // namespace api

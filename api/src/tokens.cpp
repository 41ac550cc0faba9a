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
        TokenClaims claims;
        claims.expires_s = static_cast<std::int64_t>(payload.getValue<double>("exp"));
        const std::string role = payload.getValue<std::string>(kRoleClaim);
        const std::string sub = payload.getValue<std::string>("sub");
        if (claims.expires_s <= now_s || (role != "admin" && role != "client") || sub.empty() ||
            sub.size() > 18 || sub.find_first_not_of("0123456789") != std::string::npos) {
            return std::nullopt;
        }
        claims.role = role == "admin" ? Role::Admin : Role::Client;
        claims.version =
            payload.has("ver") ? static_cast<std::int64_t>(payload.getValue<double>("ver")) : 0;
        claims.subject = std::stoll(sub);
        return claims;
    } catch (...) {
        // Malformed base64 or JSON makes POCO throw even from tryVerify (stack-notes).
        return std::nullopt;
    }
}

}  // namespace api

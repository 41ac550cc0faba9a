#pragma once
/// @file Access tokens: JWT signed with HS256, carrying the account's id, its role and an
/// expiry. Every token from a client is untrusted: `verify` never throws.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace api {

enum class Role { Client, Admin };

struct TokenClaims {
    std::int64_t subject = 0;  ///< user id or admin id, by role
    Role role = Role::Client;
    std::int64_t expires_s = 0;  ///< UTC seconds
    std::int64_t version = 0;    ///< the account's token version when it was issued
};

class TokenService {
  public:
    /// `secret` is the HMAC key (at least 32 bytes of entropy); tokens live `lifetime_s`.
    TokenService(std::string secret, std::int64_t lifetime_s);

    std::string issue(std::int64_t subject, Role role, std::int64_t now_s,
                      std::int64_t version = 0) const;
    /// The claims of a well-formed, correctly signed, unexpired HS256 token; nullopt else.
    /// A token seen verified before is answered from memory (its expiry still checked):
    /// every request carries one, and checking its signature again each time was a tenth
    /// of a request's work. Only tokens this service signed get there, at most
    /// `kRemembered` of them.
    std::optional<TokenClaims> verify(const std::string& token, std::int64_t now_s) const;

    static constexpr std::size_t kRemembered = 4096;

  private:
    std::optional<TokenClaims> check_signature(const std::string& token) const;

    std::string secret_;
    std::int64_t lifetime_s_;
    struct Verified {
        std::mutex mutex;
        std::unordered_map<std::string, TokenClaims> claims;
    };
    std::shared_ptr<Verified> verified_ = std::make_shared<Verified>();  // copies share it
};

}  // namespace api

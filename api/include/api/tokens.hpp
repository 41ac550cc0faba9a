#pragma once
/// @file Access tokens: JWT signed with HS256, carrying the account's id, its role and an
/// expiry. Every token from a client is untrusted: `verify` never throws.

#include <cstdint>
#include <optional>
#include <string>

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
    std::optional<TokenClaims> verify(const std::string& token, std::int64_t now_s) const;

  private:
    std::string secret_;
    std::int64_t lifetime_s_;
};

}  // namespace api

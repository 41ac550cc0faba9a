#pragma once
/// @file Password storage: PBKDF2-HMAC-SHA256 with a random 16-byte salt per password.
/// The stored form carries its own parameters, "pbkdf2-sha256$ITERATIONS$SALT$HASH"
/// (salt and hash in hex), so raising the iteration count later still verifies old hashes.

#include <string>
#include <string_view>

namespace api {

/// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
inline constexpr int kDefaultPasswordIterations = 600000;

/// Hashes `password` with a fresh salt.
std::string hash_password(std::string_view password, int iterations = kDefaultPasswordIterations);

/// Whether `password` matches `stored` (a hash_password result). Constant-time compare;
/// false for a malformed `stored`.
bool verify_password(std::string_view password, std::string_view stored);

/// `n` random bytes from the system's CSPRNG, hex-encoded.
std::string random_hex(std::size_t n);

}  // namespace api

#include "api/passwords.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace api {

namespace {

constexpr std::string_view kScheme = "pbkdf2-sha256";
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

std::string to_hex(const unsigned char* data, std::size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(n * 2, '0');
    for (std::size_t i = 0; i < n; ++i) {
        out[2 * i] = kDigits[data[i] >> 4];
        out[2 * i + 1] = kDigits[data[i] & 0xf];
    }
    return out;
}

bool from_hex(std::string_view hex, std::vector<unsigned char>& out) {
    if (hex.size() % 2 != 0) {
        return false;
    }
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    };
    out.clear();
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int hi = nibble(hex[i]);
        const int lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out.push_back(static_cast<unsigned char>(hi * 16 + lo));
    }
    return true;
}

std::vector<unsigned char> derive(std::string_view password, const std::vector<unsigned char>& salt,
                                  int iterations) {
    std::vector<unsigned char> key(kHashBytes);
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                          static_cast<int>(salt.size()), iterations, EVP_sha256(),
                          static_cast<int>(key.size()), key.data()) != 1) {
        throw std::runtime_error("PBKDF2 failed");
    }
    return key;
}

}  // namespace

std::string random_hex(std::size_t n) {
    std::vector<unsigned char> bytes(n);
    if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) {
        throw std::runtime_error("no random bytes from the system");
    }
    return to_hex(bytes.data(), n);
}

std::string hash_password(std::string_view password, int iterations) {
    std::vector<unsigned char> salt;
    from_hex(random_hex(kSaltBytes), salt);
    const auto key = derive(password, salt, iterations);
    return std::string(kScheme) + "$" + std::to_string(iterations) + "$" +
           to_hex(salt.data(), salt.size()) + "$" + to_hex(key.data(), key.size());
}

bool verify_password(std::string_view password, std::string_view stored) {
    const auto d1 = stored.find('$');
    const auto d2 = d1 == std::string_view::npos ? d1 : stored.find('$', d1 + 1);
    const auto d3 = d2 == std::string_view::npos ? d2 : stored.find('$', d2 + 1);
    if (d3 == std::string_view::npos || stored.substr(0, d1) != kScheme) {
        return false;
    }
    int iterations = 0;
    for (const char c : stored.substr(d1 + 1, d2 - d1 - 1)) {
        if (c < '0' || c > '9' || iterations > 100000000) {
            return false;
        }
        iterations = iterations * 10 + (c - '0');
    }
    std::vector<unsigned char> salt;
    std::vector<unsigned char> expected;
    if (iterations < 1 || !from_hex(stored.substr(d2 + 1, d3 - d2 - 1), salt) ||
        !from_hex(stored.substr(d3 + 1), expected) || expected.size() != kHashBytes) {
        return false;
    }
    const auto key = derive(password, salt, iterations);
    return CRYPTO_memcmp(key.data(), expected.data(), kHashBytes) == 0;
}

}  // namespace api

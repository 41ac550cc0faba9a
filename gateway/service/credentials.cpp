#include "credentials.hpp"

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

#include <algorithm>

namespace gateway {

namespace {

bool constant_time_equal(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        diff = static_cast<unsigned char>(
            diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
    }
    return diff == 0;
}

}  // namespace

std::string sha256_hex(std::string_view text) {
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(text.data(), static_cast<unsigned>(text.size()));
    return Poco::DigestEngine::digestToHex(engine.digest());
}

bool check_credentials(const ChargerSpec& charger, std::string_view user,
                       std::string_view password) {
    const bool user_ok = constant_time_equal(user, charger.identity);
    const bool password_ok =
        charger.password_sha256.empty()
            ? constant_time_equal(password, charger.password)
            : constant_time_equal(sha256_hex(password), charger.password_sha256);
    return user_ok && password_ok;
}

}  // namespace gateway

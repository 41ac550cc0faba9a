#pragma once
// Pieces shared by the API's handler files: the request context, the envelope and the
// Chinese messages for the scheduler's refusals.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/api_app.hpp"

namespace api {

struct ApiApp::Context {
    const HttpRequest& request;
    TokenClaims claims;
    std::optional<UserRecord> user;  ///< for client routes
    nlohmann::json body;             ///< the parsed body, for routes that take one
    Served* at = nullptr;            ///< the station the request is about
    bool named = false;              ///< the request named it (query parameter `station`)
};

namespace detail {

/// The envelope {code, msg, data} with an HTTP status; `error` (a machine-readable code)
/// is added on failures.
HttpResponse envelope(int status, const nlohmann::json& code, const std::string& msg,
                      const nlohmann::json& data, const std::string& error = "");
inline HttpResponse success(const std::string& msg,
                            const nlohmann::json& data = nlohmann::json::object()) {
    return envelope(200, 0, msg, data);
}
/// A business error: HTTP 200, code 1 (or `code`), the reason in `msg`.
inline HttpResponse refusal(const std::string& msg, const std::string& error,
                            const nlohmann::json& code = 1) {
    return envelope(200, code, msg, nullptr, error);
}
/// A transport-level error: the HTTP status is also the envelope's code.
inline HttpResponse http_error(int status, const std::string& msg, const std::string& error) {
    return envelope(status, status, msg, nullptr, error);
}
inline HttpResponse bad_request(const std::string& msg) {
    return http_error(400, msg, "bad_request");
}
inline HttpResponse scheduler_unavailable() {
    return http_error(503, "调度服务暂时不可用，请稍后重试", "scheduler_unavailable");
}

/// The Chinese message for a scheduler refusal code (e.g. "waiting_area_full").
std::string refusal_message(const std::string& error);

/// A query parameter, "" when absent.
inline std::string query_param(const HttpRequest& r, const char* key) {
    const auto it = r.query.find(key);
    return it == r.query.end() ? "" : it->second;
}

/// Rounds to cents, half up.
double money(double yuan);

}  // namespace detail
}  // namespace api

#pragma once
/// @file A request and a response as the API logic sees them, free of the HTTP server.

#include <map>
#include <string>

namespace api {

struct HttpRequest {
    std::string method;  ///< "GET", "POST", ...
    std::string path;    ///< without the query
    std::map<std::string, std::string> query;
    std::string token;            ///< the `token` header
    std::string authorization;    ///< the `Authorization` header
    std::string idempotency_key;  ///< the `Idempotency-Key` header
    std::string body;
    /// The client's address as the server saw it (no port): login attempts count by it.
    std::string peer;
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json; charset=utf-8";
    std::string body;
};

}  // namespace api

#pragma once
/// @file The POCO HTTPServer around ApiApp: reads each request (within the body limit),
/// hands it to the API logic, writes the answer with a Content-Length (so keep-alive
/// holds) and CORS headers for browser frontends.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "api/api_app.hpp"

namespace Poco {
class ThreadPool;
namespace Net {
class HTTPServer;
}
}  // namespace Poco

namespace api {

struct HttpServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;  ///< 0 = any free port
    /// POCO holds one pool thread per keep-alive connection (stack-notes): size the pool
    /// above the expected number of concurrent connections.
    int threads = 128;
    int max_queued = 1024;
    std::size_t max_body_bytes = 64 * 1024;
    std::chrono::seconds io_timeout{10};  ///< per receive/send
    std::chrono::seconds keep_alive{10};  ///< idle time before a kept-alive connection is closed
    int max_keep_alive_requests = 100000;
};

class HttpServer {
  public:
    HttpServer(ApiApp& app, HttpServerOptions options);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    void start();
    void stop();
    /// The port it listens on (useful with port 0).
    int port() const;

  private:
    std::unique_ptr<Poco::ThreadPool> pool_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    int port_ = 0;
};

}  // namespace api

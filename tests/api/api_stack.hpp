#pragma once
// The running system for API tests: a broker of its own, the scheduler (simulated clock,
// stepped by hand unless told otherwise), the pile simulator and station-api on a free
// port with a fresh database; and an HTTP client that can record every exchange.

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace apitest {

using nlohmann::json;

struct Reply {
    int status = 0;
    json body;  ///< the parsed body (discarded if not JSON)
    std::string raw;
    std::string content_type;
};

/// An HTTP/1.1 client for one server; keeps its connection alive.
class Http {
  public:
    explicit Http(int port);
    ~Http();
    /// Sends a request; `body` as JSON when given. `token` goes in the `token` header.
    Reply call(const std::string& method, const std::string& path,
               const std::optional<json>& body = std::nullopt, const std::string& token = "");
    /// Sends `raw_body` as it is, with extra headers.
    Reply raw(const std::string& method, const std::string& path, const std::string& raw_body,
              const std::vector<std::pair<std::string, std::string>>& headers);
    /// Appends every later exchange, as {"method","path","status","body"}, to `path`.
    void record_to(const std::string& path) { record_ = path; }

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string record_;
};

struct StackOptions {
    std::string profile = "acceptance-42";
    bool simulated = true;
    std::string sim_start = "2026-11-25 06:00:00";
    std::string db;  ///< default: a fresh file in the stack's folder
    int scheduler_timeout_ms = 3000;
    bool pile_sim = true;
    bool journal = false;            ///< the scheduler keeps a journal (and so survives a restart)
    int password_iterations = 1000;  ///< PBKDF2 work (the default 600,000 is slow in tests)
    std::vector<std::string> api_args;  ///< more options for station-api (e.g. stream caps)
};

inline const std::string kAdminAccount = "admin@station.test";
inline const std::string kAdminPassword = "test-admin-pw";

class Stack {
  public:
    explicit Stack(StackOptions options = {});
    ~Stack();

    /// Starts station-api (again) on the stack's database; waits until it answers.
    void start_api();
    void stop_api();
    void stop_scheduler();
    /// Kills the scheduler (SIGKILL: no clean shutdown) and starts it again, same options.
    void crash_and_restart_scheduler();
    /// Starts the scheduler again after stop_scheduler().
    void restart_scheduler();
    harness::Broker& broker() { return broker_; }
    int port() const { return port_; }
    std::string broker_uri() const { return broker_.uri(); }
    const std::string& dir() const { return dir_; }
    const std::string& db() const { return db_; }
    Http& http() { return *http_; }
    std::string admin_token();
    /// Registers a user (with a car if `car_name` is given); returns its token.
    std::string user(const std::string& account, const std::string& name = "用户");
    /// Adds a car and returns its id.
    std::string car(const std::string& token, const std::string& name, double capacity = 200,
                    double current = 0);
    /// Waits until every pile of the station reports `state` through the API.
    bool piles_are(const std::string& state,
                   std::chrono::milliseconds timeout = std::chrono::seconds(20));
    /// The log files of the processes, for failure messages.
    std::string logs() const;

  private:
    StackOptions options_;
    std::string dir_;
    std::string db_;
    harness::Broker broker_;
    void start_scheduler();
    std::unique_ptr<harness::Process> scheduler_;
    int scheduler_starts_ = 0;
    std::unique_ptr<harness::Process> sim_;
    std::unique_ptr<harness::Process> api_;
    std::unique_ptr<Http> http_;
    int port_ = 0;
    int api_starts_ = 0;
};

/// Whether `r` is the documented envelope with the given HTTP status and code.
bool is_envelope(const Reply& r, int status, const json& code);

}  // namespace apitest

#include "api_stack.hpp"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace apitest {

using namespace std::chrono_literals;

struct Http::Impl {
    explicit Impl(int port) : session("127.0.0.1", static_cast<Poco::UInt16>(port)) {
        session.setKeepAlive(true);
        session.setTimeout(Poco::Timespan(15, 0));
    }
    Poco::Net::HTTPClientSession session;
};

Http::Http(int port) : impl_(std::make_unique<Impl>(port)) {}
Http::~Http() = default;

Reply Http::call(const std::string& method, const std::string& path,
                 const std::optional<json>& body, const std::string& token) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) {
        headers.emplace_back("token", token);
    }
    if (body) {
        headers.emplace_back("Content-Type", "application/json");
    }
    return raw(method, path, body ? body->dump() : "", headers);
}

Reply Http::raw(const std::string& method, const std::string& path, const std::string& raw_body,
                const std::vector<std::pair<std::string, std::string>>& headers) {
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [k, v] : headers) {
        req.set(k, v);
    }
    if (!raw_body.empty() || method == "POST" || method == "PATCH") {
        req.setContentLength(static_cast<std::streamsize>(raw_body.size()));
    }
    Reply reply;
    for (int attempt = 0; attempt < 2; ++attempt) {
        try {
            impl_->session.sendRequest(req) << raw_body;
            Poco::Net::HTTPResponse res;
            std::istream& in = impl_->session.receiveResponse(res);
            std::ostringstream text;
            text << in.rdbuf();
            reply.status = static_cast<int>(res.getStatus());
            reply.raw = text.str();
            reply.content_type = res.getContentType();
            break;
        } catch (const Poco::Exception&) {
            // The server closed a kept-alive connection (e.g. after a 413): once more afresh.
            impl_->session.reset();
            if (attempt == 1) {
                throw;
            }
        }
    }
    reply.body = json::parse(reply.raw, nullptr, false);
    if (!record_.empty()) {
        const auto q = path.find('?');
        std::ofstream(record_, std::ios::app) << json{{"method", method},
                                                      {"path", path.substr(0, q)},
                                                      {"status", reply.status},
                                                      {"body", reply.body}}
                                                     .dump()
                                              << "\n";
    }
    return reply;
}

bool is_envelope(const Reply& r, int status, const json& code) {
    return r.status == status && r.body.is_object() && r.body.contains("code") &&
           r.body["code"] == code && r.body.contains("msg") && r.body["msg"].is_string() &&
           r.body.contains("data");
}

using harness::read_text;

Stack::Stack(StackOptions options)
    : options_(std::move(options)),
      dir_(harness::temp_dir()),
      db_(options_.db.empty() ? harness::test_database(dir_) : options_.db) {
    start_scheduler();
    if (options_.pile_sim) {
        sim_ = std::make_unique<harness::Process>(
            std::vector<std::string>{harness::pile_sim_binary(), "--broker", broker_.uri(),
                                     "--profile", options_.profile},
            dir_ + "/pile-sim.log");
    }
    start_api();
}

Stack::~Stack() {
    http_.reset();
    api_.reset();
    sim_.reset();
    scheduler_.reset();
}

void Stack::start_api() {
    const std::string port_file = dir_ + "/api.port";
    std::remove(port_file.c_str());
    ::setenv("STATION_ADMIN_ACCOUNT", kAdminAccount.c_str(), 1);
    ::setenv("STATION_ADMIN_PASSWORD", kAdminPassword.c_str(), 1);
    std::vector<std::string> args{harness::api_binary(),
                                  "--broker",
                                  broker_.uri(),
                                  "--db",
                                  db_,
                                  "--port",
                                  "0",
                                  "--port-file",
                                  port_file,
                                  "--password-iterations",
                                  std::to_string(options_.password_iterations),
                                  "--threads",
                                  "16",
                                  "--scheduler-timeout-ms",
                                  std::to_string(options_.scheduler_timeout_ms)};
    args.insert(args.end(), options_.api_args.begin(), options_.api_args.end());
    api_ = std::make_unique<harness::Process>(
        args, dir_ + "/api-" + std::to_string(++api_starts_) + ".log");
    const auto until = std::chrono::steady_clock::now() + 20s;
    std::string text;
    while ((text = read_text(port_file)).empty()) {
        if (std::chrono::steady_clock::now() > until || !api_->running()) {
            throw std::runtime_error("station-api did not start:\n" + logs());
        }
        std::this_thread::sleep_for(20ms);
    }
    port_ = std::stoi(text);
    http_ = std::make_unique<Http>(port_);
}

void Stack::stop_api() {
    http_.reset();
    api_->stop();
}

void Stack::start_scheduler() {
    std::vector<std::string> sched{harness::scheduler_binary(),
                                   "--broker",
                                   broker_.uri(),
                                   "--profile",
                                   options_.profile,
                                   "--client-id",
                                   "scheduler-under-test"};
    if (options_.simulated) {
        sched.insert(sched.end(), {"--sim-start", options_.sim_start, "--sim-speed", "0"});
    }
    if (options_.journal) {
        sched.insert(sched.end(), {"--journal", dir_ + "/scheduler.journal"});
    }
    const std::string log = ++scheduler_starts_ == 1
                                ? "/scheduler.log"
                                : "/scheduler-" + std::to_string(scheduler_starts_) + ".log";
    scheduler_ = std::make_unique<harness::Process>(sched, dir_ + log);
}

void Stack::stop_scheduler() {
    scheduler_->stop();
}

void Stack::restart_scheduler() {
    scheduler_.reset();
    start_scheduler();
}

void Stack::crash_and_restart_scheduler() {
    scheduler_->kill_hard();
    scheduler_.reset();
    start_scheduler();
}

std::string Stack::admin_token() {
    const auto r = http_->call("POST", "/admin/login",
                               json{{"account", kAdminAccount}, {"password", kAdminPassword}});
    if (!is_envelope(r, 200, 0)) {
        throw std::runtime_error("admin login failed: " + r.raw);
    }
    return r.body["data"]["token"];
}

std::string Stack::user(const std::string& account, const std::string& name) {
    const auto r = http_->call(
        "POST", "/client/register",
        json{{"account", account}, {"password", "pw-" + account.substr(0, 8)}, {"name", name}});
    if (!is_envelope(r, 200, 0)) {
        throw std::runtime_error("register failed: " + r.raw);
    }
    return r.body["data"]["token"];
}

std::string Stack::car(const std::string& token, const std::string& name, double capacity,
                       double current) {
    const auto r = http_->call(
        "POST", "/client/index/car",
        json{{"name", name}, {"power_capacity", capacity}, {"power_current", current}}, token);
    if (!is_envelope(r, 200, 0)) {
        throw std::runtime_error("add car failed: " + r.raw);
    }
    return r.body["data"]["car_id"];
}

bool Stack::piles_are(const std::string& state, std::chrono::milliseconds timeout) {
    const std::string token = admin_token();
    return harness::Probe::eventually(
        [&] {
            const auto r = http_->call("GET", "/admin/index/manage", std::nullopt, token);
            if (!is_envelope(r, 200, 0) || r.body["data"]["charge_array"].empty()) {
                return false;
            }
            for (const auto& p : r.body["data"]["charge_array"]) {
                if (p["state"] != state) {
                    return false;
                }
            }
            return true;
        },
        timeout);
}

std::string Stack::logs() const {
    std::string out;
    for (const char* name :
         {"scheduler.log", "scheduler-2.log", "pile-sim.log", "api-1.log", "api-2.log"}) {
        const std::string text = read_text(dir_ + "/" + name);
        if (!text.empty()) {
            out += std::string("--- ") + name + "\n" +
                   text.substr(text.size() > 3000 ? text.size() - 3000 : 0);
        }
    }
    return out;
}

}  // namespace apitest

#include "harness.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "contract/topics.hpp"

namespace harness {

std::string scheduler_binary() {
    return STATION_SCHEDULER_BIN;
}
std::string pile_sim_binary() {
    return STATION_PILE_SIM_BIN;
}
std::string api_binary() {
    return STATION_API_BIN;
}

std::string temp_dir() {
    std::string tmpl = "/tmp/evcs-bus-test-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    return tmpl;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

namespace {

// Whether a process that is not our child still runs. Its zombie counts as gone: where
// PID 1 does not reap orphans (some containers), a zombie lingers but holds no socket.
bool alive(pid_t pid) {
    const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}
}  // namespace

// ---- broker ------------------------------------------------------------------------

Broker::Broker(int port) : dir_(temp_dir()), port_(port) {
    start();
}

Broker::~Broker() {
    stop();
}

void Broker::start() {
    const std::string cmd = std::string(STATION_BROKER_START) + " " + dir_ + " " +
                            std::to_string(port_) + " > " + dir_ + "/start.log 2>&1";
    if (std::system(cmd.c_str()) != 0) {
        throw std::runtime_error("broker did not start: " + read_text(dir_ + "/start.log") +
                                 read_text(dir_ + "/broker.log"));
    }
    port_ = std::stoi(read_text(dir_ + "/broker.port"));
    pid_ = static_cast<pid_t>(std::stol(read_text(dir_ + "/broker.pid")));
}

void Broker::stop() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        // The broker is the start script's child, not ours: wait until it is gone.
        for (int i = 0; i < 500 && alive(pid_); ++i) {
            std::this_thread::sleep_for(10ms);
        }
        pid_ = -1;
    }
}

void Broker::kill_hard() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        for (int i = 0; i < 500 && alive(pid_); ++i) {
            std::this_thread::sleep_for(10ms);
        }
        pid_ = -1;
    }
}

void Broker::restart() {
    stop();
    start();
}

// ---- processes -----------------------------------------------------------------------

Process::Process(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
    pid_ = fork();
    if (pid_ == 0) {
        const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        std::vector<char*> args;
        for (auto& a : argv) {
            args.push_back(a.data());
        }
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        _exit(127);
    }
}

Process::~Process() {
    stop();
}

bool Process::running() {
    if (pid_ <= 0) {
        return false;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

int Process::stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0) {
        return -1;
    }
    ::kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + grace;
    int status = 0;
    while (std::chrono::steady_clock::now() < until) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
}

void Process::kill_hard() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
}

std::string Process::log() const {
    return read_text(log_path_);
}

// ---- probe ---------------------------------------------------------------------------

Probe::Probe(const std::string& uri, const std::string& client_id, const std::string& filter)
    : client_id_(client_id) {
    bus::ClientOptions o;
    o.uri = uri;
    o.client_id = client_id;
    o.persistent_session = false;
    o.subscriptions = {{filter.empty() ? std::string(contract::kRoot) + "/#" : filter, 1}};
    if (!filter.empty()) {
        o.subscriptions.push_back({contract::replies_topic(client_id), 1});
    }
    client_ = std::make_unique<bus::MqttClient>(o, [this](bus::Received m) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            messages_.push_back(
                {std::string(m.topic), std::string(m.payload), std::chrono::steady_clock::now()});
        }
        arrived_.notify_all();
    });
    client_->start();
    if (!client_->wait_connected(10s)) {
        throw std::runtime_error("probe could not connect to " + uri);
    }
    std::this_thread::sleep_for(100ms);  // the subscription is made in the connected handler
}

void Probe::publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
    client_->publish({topic, payload, qos, retain});
}

std::size_t Probe::mark() {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_.size();
}

std::vector<Message> Probe::messages() {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
}

std::optional<Message> Probe::wait_for(std::function<bool(const Message&)> match, std::size_t from,
                                       std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto until = std::chrono::steady_clock::now() + timeout;
    std::size_t i = from;
    while (true) {
        for (; i < messages_.size(); ++i) {
            if (match(messages_[i])) {
                return messages_[i];
            }
        }
        // Checked explicitly: with a steady stream of other messages the wait never times out.
        if (std::chrono::steady_clock::now() >= until) {
            return std::nullopt;
        }
        arrived_.wait_until(lock, until);
    }
}

bool Probe::eventually(const std::function<bool()>& check, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (check()) {
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return check();
}

contract::SchedulerReply Probe::request(contract::SchedulerRequest req,
                                        std::chrono::milliseconds timeout) {
    req.id = client_id_ + "-" + std::to_string(++next_id_);
    req.reply_to = contract::replies_topic(client_id_);
    const std::size_t from = mark();
    publish(contract::scheduler_requests_topic(), contract::to_json(req));
    const auto reply = wait_for(
        [&](const Message& m) {
            return m.topic == req.reply_to &&
                   m.payload.find("\"id\":\"" + req.id + "\"") != std::string::npos;
        },
        from, timeout);
    contract::SchedulerReply r;
    if (!reply) {
        r.ok = false;
        r.error = "timeout";
        r.reason = "no reply to " + req.id;
        return r;
    }
    if (std::string e = contract::parse(reply->payload, r); !e.empty()) {
        r.ok = false;
        r.error = "bad_reply";
        r.reason = e;
    }
    return r;
}

}  // namespace harness

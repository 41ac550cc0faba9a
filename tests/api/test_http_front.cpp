// The HTTP front of the REST API (issue #9, items 4 and 8) over raw sockets: slow and idle
// clients hold no worker and do not delay anyone else; deadlines, caps and the RFC 9112
// edge cases. The server runs in this process around a real ApiApp (SQLite store in a
// temporary folder, a scheduler that never answers), with small deadlines and few workers so
// that every test is quick. Assertions stay on the test thread.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/api_app.hpp"
#include "api/http_server.hpp"
#include "api/store.hpp"
#include "harness.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

class NoScheduler final : public api::SchedulerPort {
  public:
    std::optional<contract::SchedulerReply> call(contract::SchedulerRequest,
                                                 std::chrono::milliseconds) override {
        return std::nullopt;
    }
    bool wait_applied(const std::string&, std::int64_t, std::chrono::milliseconds) override {
        return false;
    }
    std::string next_request_id() override { return "r" + std::to_string(++next_); }
    const std::string& station() const override { return station_; }

  private:
    const std::string station_;
    std::atomic<int> next_{0};
};

/// Small deadlines and few workers: each test sets what it is about.
api::HttpServerOptions small_options() {
    api::HttpServerOptions o;
    o.port = 0;
    o.threads = 2;
    o.max_body_bytes = 1024;
    o.header_timeout = 3000ms;
    o.body_timeout = 3000ms;
    o.min_body_rate = 1 << 30;
    o.io_timeout = 3000ms;
    o.keep_alive = 3000ms;
    return o;
}

/// station-api in this process: the real ApiApp and HTTP server on a free port.
struct Server {
    explicit Server(api::HttpServerOptions options = small_options())
        : dir(harness::temp_dir()),
          store(harness::test_database(dir)),
          app(store, view, scheduler, api::TokenService(std::string(32, 'k'), 3600),
              app_options(dir), nullptr),
          http(app, std::move(options)) {
        http.start();
    }
    static api::ApiOptions app_options(const std::string& dir) {
        api::ApiOptions o;
        o.password_iterations = 1000;
        o.scheduler_timeout = 200ms;
        o.web_root = dir + "/web";
        std::filesystem::create_directories(dir + "/web/admin");
        std::ofstream(dir + "/web/admin/index.html") << "<html>admin</html>";
        return o;
    }
    int port() const { return http.port(); }

    std::string dir;
    api::Store store;
    api::StationView view;
    NoScheduler scheduler;
    api::ApiApp app;
    api::HttpServer http;
};

struct Reply {
    int status = 0;
    std::string status_line;
    std::map<std::string, std::string> headers;  ///< names in lower case
    std::string body;
    std::string raw;
    std::string header(const std::string& name) const {
        const auto it = headers.find(name);
        return it == headers.end() ? "" : it->second;
    }
};

/// A client on a raw socket: sends bytes as they are, reads answers with deadlines.
class Client {
  public:
    explicit Client(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~Client() { close(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool connected() const { return connected_; }
    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    bool send(const std::string& data) {
        std::size_t done = 0;
        while (done < data.size()) {
            const auto n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            done += static_cast<std::size_t>(n);
        }
        return true;
    }
    /// The next whole answer (a 100 Continue is skipped), or nullopt if none within `timeout`;
    /// `to_head`: the answer to a HEAD request (no body).
    std::optional<Reply> reply(std::chrono::milliseconds timeout = 2000ms, bool to_head = false) {
        const auto until = Clock::now() + timeout;
        while (true) {
            if (auto r = take(to_head)) {
                if (r->status == 100) {
                    continue;
                }
                return r;
            }
            if (!fill(until)) {
                return std::nullopt;
            }
        }
    }
    /// Whether the server closes the connection (end of stream or reset) within `timeout`;
    /// what it sends meanwhile stays readable by reply().
    bool closed_within(std::chrono::milliseconds timeout) {
        const auto until = Clock::now() + timeout;
        while (!eof_ && fill(until)) {
        }
        return eof_;
    }
    const std::string& buffered() const { return buf_; }

  private:
    bool fill(Clock::time_point until) {
        if (eof_ || fd_ < 0) {
            return false;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
        if (left <= 0) {
            return false;
        }
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) {
            return false;
        }
        char chunk[16384];
        const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        buf_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }
    std::optional<Reply> take(bool to_head) {
        const auto end = buf_.find("\r\n\r\n");
        if (end == std::string::npos) {
            return std::nullopt;
        }
        Reply r;
        const std::string head = buf_.substr(0, end + 2);
        r.status_line = head.substr(0, head.find("\r\n"));
        r.status = std::stoi(r.status_line.substr(9, 3));
        for (auto at = head.find("\r\n") + 2; at < head.size();) {
            const auto nl = head.find("\r\n", at);
            const std::string line = head.substr(at, nl - at);
            const auto colon = line.find(':');
            std::string name = line.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
            at = nl + 2;
        }
        const auto length = r.header("content-length");
        const std::size_t body = length.empty() || to_head ? 0 : std::stoul(length);
        if (buf_.size() < end + 4 + body) {
            return std::nullopt;
        }
        r.body = buf_.substr(end + 4, body);
        r.raw = buf_.substr(0, end + 4 + body);
        buf_.erase(0, end + 4 + body);
        return r;
    }

    int fd_ = -1;
    bool connected_ = false;
    bool eof_ = false;
    std::string buf_;
};

std::string get(const std::string& path, const std::string& extra = "") {
    return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

std::string post(const std::string& path, const std::string& body, const std::string& extra = "") {
    return "POST " + path +
           " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
           extra + "\r\n" + body;
}

const std::string kLogin = R"({"account":"nobody@x.test","password":"pw"})";

/// A request as a normal client makes it, on a fresh connection: its answer time in ms, or
/// a large number if there was no answer within `timeout`.
double probe(int port, std::chrono::milliseconds timeout = 1000ms) {
    const auto t0 = Clock::now();
    Client c(port);
    if (!c.send(get("/admin/index"))) {
        return 1e9;
    }
    const auto r = c.reply(timeout);
    if (!r || r->status != 200 || r->body != "<html>admin</html>") {
        return 1e9;
    }
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

/// The front's own refusal: the API's envelope with `status` as its code.
bool is_refusal(const std::optional<Reply>& r, int status, const std::string& error) {
    return r && r->status == status &&
           r->body.find("\"code\":" + std::to_string(status)) != std::string::npos &&
           r->body.find("\"error\":\"" + error + "\"") != std::string::npos &&
           r->header("content-type").rfind("application/json", 0) == 0;
}

}  // namespace

TEST_CASE("front: slowloris headers — connections trickling a head hold no worker",
          "[api][front]") {
    auto o = small_options();
    o.threads = 2;
    o.header_timeout = 10000ms;  // the trickling clients stay for the whole test
    Server s(o);
    std::vector<std::unique_ptr<Client>> slow;
    for (int i = 0; i < 64; ++i) {
        slow.push_back(std::make_unique<Client>(s.port()));
        REQUIRE(slow.back()->send("GET /admin/index HTTP/1.1\r\nHost: x\r\n"));
    }
    std::vector<double> times;
    for (int round = 0; round < 20; ++round) {
        for (auto& c : slow) {
            c->send("X");  // one more byte of a header field that never ends
        }
        times.push_back(probe(s.port()));
        std::this_thread::sleep_for(10ms);
    }
    INFO("p50 " << percentile(times, 0.5) << " ms, max " << percentile(times, 1.0) << " ms");
    CHECK(percentile(times, 1.0) < 1000);
    CHECK(percentile(times, 0.5) < 100);
    for (auto& c : slow) {
        CHECK_FALSE(c->reply(0ms));  // still unanswered, still open
    }
}

TEST_CASE("front: a trickled body holds no worker either", "[api][front]") {
    auto o = small_options();
    o.threads = 2;
    o.body_timeout = 10000ms;
    Server s(o);
    std::vector<std::unique_ptr<Client>> slow;
    for (int i = 0; i < 64; ++i) {
        slow.push_back(std::make_unique<Client>(s.port()));
        REQUIRE(slow.back()->send(
            "POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"));
    }
    std::vector<double> times;
    for (int round = 0; round < 20; ++round) {
        for (auto& c : slow) {
            c->send(" ");
        }
        times.push_back(probe(s.port()));
        std::this_thread::sleep_for(10ms);
    }
    INFO("p50 " << percentile(times, 0.5) << " ms, max " << percentile(times, 1.0) << " ms");
    CHECK(percentile(times, 1.0) < 1000);
    CHECK(percentile(times, 0.5) < 100);
}

TEST_CASE("front: idle connections, new and kept alive, beyond the workers", "[api][front]") {
    auto o = small_options();
    o.threads = 2;
    Server s(o);
    std::vector<std::unique_ptr<Client>> idle;
    for (int i = 0; i < 40; ++i) {
        idle.push_back(std::make_unique<Client>(s.port()));  // says nothing
    }
    for (int i = 0; i < 40; ++i) {
        idle.push_back(std::make_unique<Client>(s.port()));
        REQUIRE(idle.back()->send(get("/admin/index")));
        REQUIRE(idle.back()->reply());  // answered; the connection stays open, idle
    }
    std::vector<double> times;
    for (int i = 0; i < 20; ++i) {
        times.push_back(probe(s.port()));
    }
    CHECK(percentile(times, 1.0) < 1000);
    // and the kept-alive ones still work
    REQUIRE(idle.back()->send(get("/admin/index")));
    const auto again = idle.back()->reply();
    REQUIRE(again);
    CHECK(again->status == 200);
}

TEST_CASE("front: a head that never completes is answered 408 and closed at its deadline",
          "[api][front]") {
    auto o = small_options();
    o.header_timeout = 400ms;
    Server s(o);
    Client c(s.port());
    const auto t0 = Clock::now();
    REQUIRE(c.send("GET /admin/index HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    bool closed = false;
    while (!closed && Clock::now() - t0 < 3s) {
        c.send("a");  // still sending, just too slowly
        closed = c.closed_within(50ms);
    }
    const auto elapsed = Clock::now() - t0;
    CHECK(closed);
    CHECK(elapsed >= 350ms);
    CHECK(elapsed < 2000ms);
    CHECK(is_refusal(c.reply(0ms), 408, "request_timeout"));

    // A connection that sends nothing is closed too, silently.
    Client quiet(s.port());
    CHECK(quiet.closed_within(3000ms));
    CHECK(quiet.buffered().empty());
}

TEST_CASE(
    "front: a body that does not arrive in time is 408 and closed, and an idle "
    "keep-alive connection is closed after its timeout",
    "[api][front]") {
    auto o = small_options();
    o.body_timeout = 400ms;
    o.keep_alive = 400ms;
    Server s(o);
    Client c(s.port());
    const auto t0 = Clock::now();
    REQUIRE(c.send("POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":"));
    CHECK(c.closed_within(3000ms));
    CHECK(Clock::now() - t0 >= 350ms);
    CHECK(is_refusal(c.reply(0ms), 408, "request_timeout"));

    Client k(s.port());
    REQUIRE(k.send(get("/admin/index")));
    REQUIRE(k.reply());
    const auto t1 = Clock::now();
    CHECK(k.closed_within(3000ms));
    CHECK(Clock::now() - t1 >= 350ms);
    CHECK(k.buffered().empty());
}

TEST_CASE("front: Content-Length with chunked is 400 and the connection is closed",
          "[api][front]") {
    Server s;
    Client c(s.port());
    REQUIRE(
        c.send("POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
               get("/admin/index")));  // would be smuggled behind it
    CHECK(is_refusal(c.reply(), 400, "bad_request"));
    CHECK(c.closed_within(2000ms));
    CHECK_FALSE(c.reply(0ms));  // the second request was not answered
}

TEST_CASE("front: a bad Content-Length is 400, not silence", "[api][front]") {
    Server s;
    for (const std::string length :
         {"abc", "-1", "+5", "1e3", "0x10", "5 5", "99999999999999999999999", "", "5, 6"}) {
        Client c(s.port());
        REQUIRE(c.send("POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Length: " + length +
                       "\r\n\r\n{}"));
        INFO("Content-Length: " << length);
        CHECK(is_refusal(c.reply(), 400, "bad_request"));
        CHECK(c.closed_within(2000ms));
    }
    Client twice(s.port());
    REQUIRE(
        twice.send("POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: "
                   "3\r\n\r\n{}"));
    CHECK(is_refusal(twice.reply(), 400, "bad_request"));
}

TEST_CASE("front: a chunked body is decoded, with extensions and trailers", "[api][front]") {
    Server s;
    Client c(s.port());
    const std::string a = kLogin.substr(0, 10);
    const std::string b = kLogin.substr(10);
    char size_a[16];
    char size_b[16];
    std::snprintf(size_a, sizeof size_a, "%zx", a.size());
    std::snprintf(size_b, sizeof size_b, "%zX", b.size());
    const std::string request =
        "POST /admin/login HTTP/1.1\r\nHost: x\r\n"
        "Transfer-Encoding: chunked\r\n\r\n" +
        std::string(size_a) + ";ext=1\r\n" + a + "\r\n" + std::string(size_b) + "\r\n" + b +
        "\r\n0\r\nX-Trailer: t\r\n\r\n";
    // sent in pieces, as a slow network would
    for (std::size_t i = 0; i < request.size(); i += 7) {
        REQUIRE(c.send(request.substr(i, 7)));
    }
    auto r = c.reply();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.find("wrong_credentials") != std::string::npos);  // the JSON arrived whole
    // over the body limit: 413, and the connection goes on
    const std::string big(700, 'x');
    REQUIRE(
        c.send("POST /admin/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "2bc\r\n" +
               big + "\r\n2bc\r\n" + big + "\r\n0\r\n\r\n"));
    CHECK(is_refusal(c.reply(), 413, "payload_too_large"));
    REQUIRE(c.send(get("/admin/index")));
    r = c.reply();
    REQUIRE(r);
    CHECK(r->status == 200);
    // a malformed chunk size is 400 and closes
    REQUIRE(
        c.send("POST /admin/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "zz\r\n"));
    CHECK(is_refusal(c.reply(), 400, "bad_request"));
    CHECK(c.closed_within(2000ms));
}

TEST_CASE("front: pipelined and kept-alive requests are answered in order", "[api][front]") {
    Server s;
    Client c(s.port());
    REQUIRE(c.send(get("/one") + post("/admin/login", kLogin) + get("/three") + "\r\n"));
    const auto r1 = c.reply();
    const auto r2 = c.reply();
    const auto r3 = c.reply();
    REQUIRE(r1);
    REQUIRE(r2);
    REQUIRE(r3);
    CHECK(r1->status == 404);
    CHECK(r1->body.find("/one") != std::string::npos);
    CHECK(r2->status == 200);
    CHECK(r2->body.find("wrong_credentials") != std::string::npos);
    CHECK(r3->status == 404);
    CHECK(r3->body.find("/three") != std::string::npos);
    for (const auto& r : {r1, r2, r3}) {
        CHECK(r->header("connection") == "Keep-Alive");
        CHECK_FALSE(r->header("content-length").empty());
    }
    for (int i = 0; i < 5; ++i) {  // the same connection goes on
        REQUIRE(c.send(get("/admin/index")));
        const auto r = c.reply();
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    REQUIRE(c.send(get("/admin/index", "Connection: close\r\n")));
    const auto last = c.reply();
    REQUIRE(last);
    CHECK(last->header("connection") == "Close");
    CHECK(c.closed_within(2000ms));
}

TEST_CASE("front: an unknown HTTP version is 505 in HTTP/1.1, not echoed", "[api][front]") {
    Server s;
    for (const std::string version : {"HTTP/2.0", "HTTP/1.2", "HTTP/3.0", "HTTP/0.9"}) {
        Client c(s.port());
        REQUIRE(c.send("GET /admin/index " + version + "\r\nHost: x\r\n\r\n"));
        const auto r = c.reply();
        INFO(version);
        CHECK(is_refusal(r, 505, "http_version_not_supported"));
        REQUIRE(r);
        CHECK(r->status_line.rfind("HTTP/1.1 505", 0) == 0);
        CHECK(r->raw.find(version) == std::string::npos);
        CHECK(c.closed_within(2000ms));
    }
    for (const std::string line : {"GET /admin/index HTTPS/1.1", "GET /admin/index",
                                   "GET  /admin/index HTTP/1.1", "GET /admin/index HTTP/1.1 x"}) {
        Client c(s.port());
        REQUIRE(c.send(line + "\r\nHost: x\r\n\r\n"));
        INFO(line);
        CHECK(is_refusal(c.reply(), 400, "bad_request"));
    }
    Client old(s.port());  // HTTP/1.0 is served (and closed: it did not ask for keep-alive)
    REQUIRE(old.send("GET /admin/index HTTP/1.0\r\n\r\n"));
    const auto r = old.reply();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(old.closed_within(2000ms));
}

TEST_CASE("front: heads too large are 431, request lines too long 414, malformed fields 400",
          "[api][front]") {
    Server s;
    {
        Client c(s.port());
        REQUIRE(c.send("GET /admin/index HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') +
                       "\r\nX-Big2: " + std::string(8000, 'b') +
                       "\r\nX-Big3: " + std::string(1000, 'c') + "\r\n\r\n"));
        CHECK(is_refusal(c.reply(), 431, "header_too_large"));
        CHECK(c.closed_within(2000ms));
    }
    {
        Client c(s.port());  // never ends its head, but is too large long before
        REQUIRE(c.send("GET /admin/index HTTP/1.1\r\nHost: x\r\n"));
        for (int i = 0; i < 40; ++i) {
            c.send("X-" + std::to_string(i) + ": " + std::string(500, 'z') + "\r\n");
        }
        CHECK(is_refusal(c.reply(), 431, "header_too_large"));
    }
    {
        Client c(s.port());
        std::string many = "GET /admin/index HTTP/1.1\r\nHost: x\r\n";
        for (int i = 0; i < 150; ++i) {
            many += "X-" + std::to_string(i) + ": 1\r\n";
        }
        REQUIRE(c.send(many + "\r\n"));
        CHECK(is_refusal(c.reply(), 431, "header_too_large"));
    }
    {
        Client c(s.port());
        REQUIRE(c.send("GET /" + std::string(9000, 'p') + " HTTP/1.1\r\nHost: x\r\n\r\n"));
        CHECK(is_refusal(c.reply(), 414, "uri_too_long"));
        CHECK(c.closed_within(2000ms));
    }
    for (const std::string field :
         {"Host : x", " folded", "X-Bad\x01: 1", "NoColon", "X: a\rb", "X: a\x7f"}) {
        Client c(s.port());
        REQUIRE(c.send("GET /admin/index HTTP/1.1\r\nHost: x\r\nX-Ok: 1\r\n" + field + "\r\n\r\n"));
        INFO(field);
        CHECK(is_refusal(c.reply(), 400, "bad_request"));
    }
    Client no_host(s.port());
    REQUIRE(no_host.send("GET /admin/index HTTP/1.1\r\n\r\n"));
    CHECK(is_refusal(no_host.reply(), 400, "bad_request"));
}

TEST_CASE("front: connections per address are capped, and at the total cap the longest idle goes",
          "[api][front]") {
    auto o = small_options();
    o.max_connections_per_address = 4;
    {
        Server s(o);
        std::vector<std::unique_ptr<Client>> held;
        for (int i = 0; i < 4; ++i) {
            held.push_back(std::make_unique<Client>(s.port()));
            REQUIRE(held.back()->send(get("/admin/index")));
            REQUIRE(held.back()->reply());  // accepted and counted
        }
        Client fifth(s.port());
        fifth.send(get("/admin/index"));
        const bool closed = fifth.closed_within(2000ms);
        CHECK(closed);
        const auto r = fifth.reply(0ms);
        if (r) {
            CHECK(is_refusal(r, 503, "too_many_connections"));
        }
        held.front()->close();  // one goes: there is room again
        // Until the server has read that close, a newcomer is still refused at once: retry
        // for a bounded time (slow under ThreadSanitizer), not a bounded count.
        bool served = false;
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!served && std::chrono::steady_clock::now() < deadline) {
            Client again(s.port());
            again.send(get("/admin/index"));
            const auto a = again.reply(200ms);
            served = a && a->status == 200;
            if (!served) {
                std::this_thread::sleep_for(20ms);
            }
        }
        CHECK(served);
    }
    o.max_connections_per_address = 100;
    o.max_connections = 4;
    Server s(o);
    std::vector<std::unique_ptr<Client>> idle;
    for (int i = 0; i < 4; ++i) {
        idle.push_back(std::make_unique<Client>(s.port()));
        REQUIRE(idle.back()->send(get("/admin/index")));
        REQUIRE(idle.back()->reply());
    }
    Client newcomer(s.port());
    REQUIRE(newcomer.send(get("/admin/index")));
    const auto r = newcomer.reply();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(idle.front()->closed_within(2000ms));  // the longest idle made room
}

TEST_CASE(
    "front: every answer has the security and CORS headers, and preflight, HEAD, 413 "
    "and 100-continue work as before",
    "[api][front]") {
    Server s;
    Client c(s.port());
    const auto check_headers = [](const std::optional<Reply>& r) {
        REQUIRE(r);
        CHECK(r->header("x-content-type-options") == "nosniff");
        CHECK(r->header("x-frame-options") == "DENY");
        CHECK(r->header("referrer-policy") == "no-referrer");
        CHECK(r->header("content-security-policy") ==
              "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors "
              "'none'; base-uri 'none'");
        CHECK(r->header("access-control-allow-origin") == "*");
        CHECK(r->header("server") == "station-api");
    };
    REQUIRE(c.send(get("/admin/index")));
    auto r = c.reply();
    check_headers(r);
    CHECK(r->header("content-length") == "18");
    CHECK(r->header("content-type") == "text/html; charset=utf-8");

    REQUIRE(c.send("OPTIONS /client/index/order HTTP/1.1\r\nHost: x\r\n\r\n"));
    r = c.reply();
    check_headers(r);
    CHECK(r->status == 204);
    CHECK(r->header("access-control-allow-methods") == "GET, POST, PATCH, DELETE, OPTIONS");
    CHECK(r->header("access-control-allow-headers") ==
          "Content-Type, token, Authorization, Idempotency-Key");
    CHECK(r->header("access-control-max-age") == "86400");

    REQUIRE(c.send("HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n" + get("/admin/index")));
    r = c.reply(2000ms, true);
    check_headers(r);
    CHECK(r->status == 404);
    CHECK(r->header("content-length") != "0");  // the length of the body it would have ...
    CHECK(r->body.empty());                     // ... but no body
    r = c.reply();
    REQUIRE(r);
    CHECK(r->body == "<html>admin</html>");

    // a body over the limit: read and dropped, 413 in the route's own code style (-1 on
    // POST /client/index/order), the connection goes on
    REQUIRE(c.send(post("/client/index/order", std::string(5000, 'x'))));
    r = c.reply();
    check_headers(r);
    CHECK(r->status == 413);
    CHECK(r->body.find("\"code\":-1") != std::string::npos);
    CHECK(r->body.find("payload_too_large") != std::string::npos);
    REQUIRE(c.send(get("/admin/index")));
    CHECK(c.reply());

    // with Expect: 100-continue, the client is told to go on, then answered
    REQUIRE(
        c.send("POST /admin/login HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
               std::to_string(kLogin.size()) + "\r\n\r\n"));
    const auto until = Clock::now() + 2s;
    while (c.buffered().find("100 Continue") == std::string::npos && Clock::now() < until) {
        CHECK_FALSE(c.closed_within(20ms));
    }
    CHECK(c.buffered().rfind("HTTP/1.1 100 Continue\r\n\r\n", 0) == 0);
    REQUIRE(c.send(kLogin));
    r = c.reply();
    REQUIRE(r);
    CHECK(r->body.find("wrong_credentials") != std::string::npos);

    // a body far over the limit is not read: 413 and closed
    Client big(s.port());
    REQUIRE(big.send("POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"));
    r = big.reply();
    check_headers(r);
    CHECK(is_refusal(r, 413, "payload_too_large"));
    CHECK(big.closed_within(3000ms));
}

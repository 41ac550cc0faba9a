// station-gateway's WebSocket server (gateway/service/ws_server.hpp) over real loopback
// sockets, driven by a raw client: the upgrade and its refusals, frames both ways, the
// close handshake, protocol violations, deadlines, the connection cap and a peer that
// does not read. Short deadlines; every wait is bounded by a socket timeout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/charger_registry.hpp"
#include "ws_protocol.hpp"
#include "ws_server.hpp"
#include "ws_test_frames.hpp"

using namespace gateway;

namespace {

const char* kChargers = R"({"chargers": [
    {"identity": "CP1", "password": "secret-pass-1",
     "connectors": [{"connector": 1, "pile": "F1", "mode": "F", "power_kw": 30}]}]})";

/// What the server reported, for the test thread to wait on.
struct Seen {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::pair<ConnectionId, std::string>> connected;
    std::vector<std::pair<ConnectionId, std::string>> texts;
    std::vector<ConnectionId> closed;
    std::vector<std::string> log;

    template <typename Pred>
    bool wait(Pred pred, std::chrono::milliseconds t = std::chrono::milliseconds(5000)) {
        std::unique_lock<std::mutex> lock(mutex);
        return changed.wait_for(lock, t, [&] { return pred(); });
    }
};

struct Server {
    Registry registry = *parse_registry(kChargers).registry;
    Seen seen;
    OcppServer server;

    explicit Server(ServerOptions o = fast())
        : server(registry, with_port0(std::move(o)), events(seen)) {
        server.start();
    }
    static ServerOptions fast() {
        ServerOptions o;
        o.handshake_timeout_ms = 400;
        o.idle_ping_ms = 400;
        o.pong_timeout_ms = 400;
        o.close_timeout_ms = 400;
        return o;
    }
    static ServerOptions with_port0(ServerOptions o) {
        o.port = 0;
        return o;
    }
    static ServerEvents events(Seen& s) {
        ServerEvents e;
        e.connected = [&s](ConnectionId c, std::string id) {
            std::lock_guard<std::mutex> lock(s.mutex);
            s.connected.emplace_back(c, std::move(id));
            s.changed.notify_all();
        };
        e.text = [&s](ConnectionId c, std::string t) {
            std::lock_guard<std::mutex> lock(s.mutex);
            s.texts.emplace_back(c, std::move(t));
            s.changed.notify_all();
        };
        e.closed = [&s](ConnectionId c) {
            std::lock_guard<std::mutex> lock(s.mutex);
            s.closed.push_back(c);
            s.changed.notify_all();
        };
        e.log = [&s](std::string level, std::string text) {
            std::lock_guard<std::mutex> lock(s.mutex);
            s.log.push_back(level + ": " + text);
            s.changed.notify_all();
        };
        return e;
    }
    bool logged(const std::string& part) {
        std::lock_guard<std::mutex> lock(seen.mutex);
        for (const auto& l : seen.log) {
            if (l.find(part) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
};

/// A raw TCP client with a receive timeout.
class Client {
  public:
    explicit Client(int port, int rcvbuf = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (rcvbuf > 0) {
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        }
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~Client() { ::close(fd_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool connected() const { return connected_; }
    void send(const std::string& bytes) {
        [[maybe_unused]] const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
    /// Reads until `n` bytes are buffered; false at EOF or timeout.
    bool fill(std::size_t n) {
        while (in_.size() < n) {
            char buf[4096];
            const auto r = ::recv(fd_, buf, sizeof buf, 0);
            if (r <= 0) {
                return false;
            }
            in_.append(buf, static_cast<std::size_t>(r));
        }
        return true;
    }
    /// The HTTP answer head (through its empty line), "" if none came.
    std::string head() {
        while (in_.find("\r\n\r\n") == std::string::npos) {
            if (!fill(in_.size() + 1)) {
                return "";
            }
        }
        const auto end = in_.find("\r\n\r\n") + 4;
        std::string h = in_.substr(0, end);
        in_.erase(0, end);
        return h;
    }
    /// The next server frame: {opcode, payload}; nothing at EOF or timeout.
    std::optional<std::pair<int, std::string>> frame() {
        if (!fill(2)) {
            return std::nullopt;
        }
        const auto b1 = static_cast<unsigned char>(in_[1]);
        if ((b1 & 0x80) != 0) {
            return std::pair<int, std::string>{-1, "masked"};  // servers never mask
        }
        std::size_t header = 2;
        std::size_t len = b1 & 0x7F;
        if (len == 126) {
            if (!fill(4)) {
                return std::nullopt;
            }
            len = (static_cast<std::size_t>(static_cast<unsigned char>(in_[2])) << 8) |
                  static_cast<unsigned char>(in_[3]);
            header = 4;
        } else if (len == 127) {
            if (!fill(10)) {
                return std::nullopt;
            }
            len = 0;
            for (int i = 2; i < 10; ++i) {
                len = (len << 8) | static_cast<unsigned char>(in_[static_cast<std::size_t>(i)]);
            }
            header = 10;
        }
        if (!fill(header + len)) {
            return std::nullopt;
        }
        const int op = static_cast<unsigned char>(in_[0]) & 0x0F;
        std::string payload = in_.substr(header, len);
        in_.erase(0, header + len);
        return std::pair<int, std::string>{op, payload};
    }
    /// Whether the server closed the connection (EOF) before the timeout.
    bool eof() {
        in_.clear();
        while (true) {
            char buf[4096];
            const auto r = ::recv(fd_, buf, sizeof buf, 0);
            if (r == 0) {
                return true;
            }
            if (r < 0) {
                return errno == ECONNRESET;
            }
        }
    }

  private:
    int fd_ = -1;
    bool connected_ = false;
    std::string in_;
};

std::string upgrade(const std::string& identity, const std::string& password,
                    const std::string& protocol = "ocpp1.6") {
    return "GET /ocpp/" + identity +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: " +
           protocol + "\r\nAuthorization: Basic " + ws::base64_encode(identity + ":" + password) +
           "\r\n\r\n";
}

std::string masked(int opcode, const std::string& payload, bool fin = true) {
    return ws_test::client_frame(static_cast<std::uint8_t>(opcode), payload, fin, 0x12345678);
}

std::uint16_t close_code(const std::string& payload) {
    return payload.size() < 2
               ? 0
               : static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                            static_cast<unsigned char>(payload[1]));
}

/// Upgrades `c` as CP1 and returns the connection id the server reported.
ConnectionId open(Server& s, Client& c) {
    const std::size_t before = [&] {
        std::lock_guard<std::mutex> lock(s.seen.mutex);
        return s.seen.connected.size();
    }();
    c.send(upgrade("CP1", "secret-pass-1"));
    const std::string h = c.head();
    REQUIRE(h.rfind("HTTP/1.1 101 ", 0) == 0);
    REQUIRE(h.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos);
    REQUIRE(h.find("Sec-WebSocket-Protocol: ocpp1.6") != std::string::npos);
    REQUIRE(s.seen.wait([&] { return s.seen.connected.size() > before; }));
    std::lock_guard<std::mutex> lock(s.seen.mutex);
    return s.seen.connected.back().first;
}

}  // namespace

TEST_CASE("ws server: upgrade, texts both ways, ping, and the client's close") {
    Server s;
    Client c(s.server.port());
    REQUIRE(c.connected());
    const ConnectionId id = open(s, c);
    {
        std::lock_guard<std::mutex> lock(s.seen.mutex);
        CHECK(s.seen.connected.back().second == "CP1");
    }
    // A fragmented text with a ping between its fragments.
    c.send(masked(0x1, "[2,\"1\",", false) + masked(0x9, "hb") + masked(0x0, "\"Heartbeat\",{}]"));
    const auto pong = c.frame();
    REQUIRE(pong);
    CHECK(pong->first == 0xA);
    CHECK(pong->second == "hb");
    REQUIRE(s.seen.wait([&] { return !s.seen.texts.empty(); }));
    {
        std::lock_guard<std::mutex> lock(s.seen.mutex);
        CHECK(s.seen.texts[0] == std::make_pair(id, std::string("[2,\"1\",\"Heartbeat\",{}]")));
    }
    const std::string big(70'000, 'x');
    s.server.send(id, "[3,\"1\",{}]");
    s.server.send(id, big);
    s.server.send(id + 1000, "nobody");  // a connection that does not exist: dropped
    auto f = c.frame();
    REQUIRE(f);
    CHECK(f->first == 0x1);
    CHECK(f->second == "[3,\"1\",{}]");
    f = c.frame();
    REQUIRE(f);
    CHECK(f->second == big);
    c.send(masked(0x8, std::string("\x03\xe8", 2)));
    f = c.frame();
    REQUIRE(f);
    CHECK(f->first == 0x8);
    CHECK(close_code(f->second) == 1000);
    CHECK(c.eof());
    REQUIRE(s.seen.wait([&] { return s.seen.closed.size() == 1; }));
    std::lock_guard<std::mutex> lock(s.seen.mutex);
    CHECK(s.seen.closed[0] == id);
}

TEST_CASE("ws server: refusals before the upgrade, and no connection reported") {
    Server s;
    {
        Client c(s.server.port());
        c.send(upgrade("CP1", "wrong"));
        const std::string h = c.head();
        CHECK(h.rfind("HTTP/1.1 401 ", 0) == 0);
        CHECK(h.find("WWW-Authenticate: Basic") != std::string::npos);
        CHECK(c.eof());
    }
    {
        Client c(s.server.port());
        c.send(upgrade("CP9", "secret-pass-1"));
        CHECK(c.head().rfind("HTTP/1.1 401 ", 0) == 0);
    }
    {
        Client c(s.server.port());
        c.send(upgrade("CP1", "secret-pass-1", "ocpp2.0.1"));
        CHECK(c.head().rfind("HTTP/1.1 400 ", 0) == 0);
    }
    {
        Client c(s.server.port());
        c.send("GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(c.head().rfind("HTTP/1.1 404 ", 0) == 0);
    }
    {
        Client c(s.server.port());
        c.send("GET /ocpp/CP1 HTTP/1.1\r\n" + std::string(9000, 'a') + "\r\n\r\n");
        CHECK(c.head().rfind("HTTP/1.1 431 ", 0) == 0);
    }
    CHECK(s.logged("refused charger CP1 from 127.0.0.1: bad credentials"));
    CHECK(s.logged("refused charger CP9 from 127.0.0.1: unknown identity"));
    std::lock_guard<std::mutex> lock(s.seen.mutex);
    CHECK(s.seen.connected.empty());
    CHECK(s.seen.closed.empty());
}

TEST_CASE("ws server: protocol violations are closed with their code") {
    Server s;
    struct Case {
        std::string bytes;
        std::uint16_t code;
    };
    const std::vector<Case> cases = {
        {std::string("\x81\x02hi", 4), 1002},                       // not masked
        {masked(0x2, "bin"), 1003},                                 // binary
        {masked(0x1, std::string(kMaxFrameBytes + 1, 'x')), 1009},  // too big
        {masked(0x1, "\xff"), 1007},                                // not UTF-8
    };
    std::size_t n = 0;
    for (const auto& k : cases) {
        Client c(s.server.port());
        open(s, c);
        c.send(k.bytes);
        const auto f = c.frame();
        REQUIRE(f);
        CHECK(f->first == 0x8);
        CHECK(close_code(f->second) == k.code);
        CHECK(c.eof());
        ++n;
        REQUIRE(s.seen.wait([&] { return s.seen.closed.size() == n; }));
    }
    std::lock_guard<std::mutex> lock(s.seen.mutex);
    CHECK(s.seen.texts.empty());
}

TEST_CASE("ws server: the central system's close, and deadlines") {
    Server s;
    {
        INFO("close(): a Close frame after what was queued, then the socket closes");
        Client c(s.server.port());
        const ConnectionId id = open(s, c);
        s.server.send(id, "last");
        s.server.close(id);
        auto f = c.frame();
        REQUIRE(f);
        CHECK(f->second == "last");
        f = c.frame();
        REQUIRE(f);
        CHECK(f->first == 0x8);
        CHECK(close_code(f->second) == 1000);
        c.send(masked(0x8, std::string("\x03\xe8", 2)));
        CHECK(c.eof());
        REQUIRE(s.seen.wait([&] { return s.seen.closed.size() == 1; }));
    }
    {
        INFO("no upgrade within the handshake deadline: closed");
        Client c(s.server.port());
        c.send("GET /ocpp/CP1 HTTP/1.1\r\n");
        CHECK(c.eof());
    }
    {
        INFO("idle: a Ping, then closed when nothing answers");
        Client c(s.server.port());
        const ConnectionId id = open(s, c);
        const auto ping = c.frame();
        REQUIRE(ping);
        CHECK(ping->first == 0x9);
        CHECK(c.eof());
        REQUIRE(s.seen.wait([&] {
            return std::find(s.seen.closed.begin(), s.seen.closed.end(), id) != s.seen.closed.end();
        }));
    }
    CHECK(s.logged("no upgrade within 400 ms"));
    CHECK(s.logged("no answer to a ping within 400 ms"));
}

TEST_CASE("ws server: the connection cap, and a peer that does not read") {
    ServerOptions o = Server::fast();
    o.max_connections = 2;
    o.idle_ping_ms = 60'000;
    o.max_output_bytes = 256 * 1024;
    o.pause_output_bytes = 64 * 1024;
    Server s(o);
    Client a(s.server.port(), 4096);
    const ConnectionId id = open(s, a);
    Client b(s.server.port());
    open(s, b);
    Client third(s.server.port());
    CHECK(third.head().rfind("HTTP/1.1 503 ", 0) == 0);
    // `a` reads nothing: what is queued for it grows past the cap, and it is closed.
    const std::string chunk(60'000, 'y');
    for (int i = 0; i < 400; ++i) {
        s.server.send(id, chunk);
    }
    REQUIRE(s.seen.wait([&] {
        return std::find(s.seen.closed.begin(), s.seen.closed.end(), id) != s.seen.closed.end();
    }));
    CHECK(s.logged("bytes unsent (it does not read): closed"));
    // The other connection is served all along.
    b.send(masked(0x9, "still"));
    const auto pong = b.frame();
    REQUIRE(pong);
    CHECK(pong->second == "still");
}

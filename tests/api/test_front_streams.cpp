// The HTTP front's side of the live streams (api/src/http_front.hpp): a client that stops
// reading its stream is closed once more than 1 MiB waits for it, one that reads is never
// cut however much it is sent, and a client that hangs up frees its stream at once. The
// LiveHub learns of each through on_closed. Real sockets on loopback; every wait is for a
// condition, with a bound.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http_front.hpp"

using namespace std::chrono_literals;

namespace {

/// A front whose every request opens a stream; it notes which streams opened and closed.
struct StreamFront {
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::uint64_t> opened;
    std::set<std::uint64_t> closed;
    api::front::Front front;

    StreamFront()
        : front(
              options(),
              [this](api::front::Request& r) {
                  api::front::Answer a{
                      api::HttpResponse{200, "text/event-stream; charset=utf-8", "retry: 3000\n\n"},
                      {}};
                  a.stream = true;
                  const std::uint64_t id = r.connection;
                  a.after_head = [this, id] {
                      std::lock_guard lock(m);
                      opened.push_back(id);
                      cv.notify_all();
                  };
                  return a;
              },
              [](const Poco::Net::HTTPRequest&, int status, const std::string& msg,
                 const std::string&) {
                  return api::HttpResponse{status, "text/plain", msg};
              },
              {}) {
        front.on_closed([this](std::uint64_t id) {
            std::lock_guard lock(m);
            closed.insert(id);
            cv.notify_all();
        });
        front.start();
    }
    ~StreamFront() { front.stop(); }

    static api::HttpServerOptions options() {
        api::HttpServerOptions o;
        o.port = 0;
        o.threads = 2;
        // Long enough never to be what closes a stream here: only the backlog or a hang-up.
        o.io_timeout = 60s;
        o.keep_alive = 60s;
        return o;
    }
    /// The id of the stream opened next (the `n`th), once its head is out.
    std::uint64_t wait_opened(std::size_t n) {
        std::unique_lock lock(m);
        REQUIRE(cv.wait_for(lock, 5s, [&] { return opened.size() >= n; }));
        return opened[n - 1];
    }
    bool wait_closed(std::uint64_t id, std::chrono::milliseconds timeout) {
        std::unique_lock lock(m);
        return cv.wait_for(lock, timeout, [&] { return closed.count(id) > 0; });
    }
    bool is_closed(std::uint64_t id) {
        std::lock_guard lock(m);
        return closed.count(id) > 0;
    }
};

/// A client on a raw socket that opens a stream.
struct StreamClient {
    int fd = -1;
    explicit StreamClient(int port) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        const timeval wait{5, 0};  // no read blocks a test for longer
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
        const std::string get = "GET /live HTTP/1.1\r\nHost: x\r\n\r\n";
        REQUIRE(::send(fd, get.data(), get.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(get.size()));
    }
    ~StreamClient() { close(); }
    StreamClient(const StreamClient&) = delete;
    StreamClient& operator=(const StreamClient&) = delete;
    void close() {
        if (fd >= 0) {
            ::close(fd);
            fd = -1;
        }
    }
};

constexpr std::size_t kChunk = 64 * 1024;

}  // namespace

TEST_CASE("front streams — a client that stops reading is closed once 1 MiB waits for it",
          "[front][live]") {
    StreamFront f;
    StreamClient reader_that_stops(f.front.port());  // reads nothing at all
    const std::uint64_t id = f.wait_opened(1);
    // Far more than the socket buffers on both sides and the 1 MiB backlog together.
    const std::string chunk(kChunk, 'x');
    std::size_t posted = 0;
    while (!f.is_closed(id) && posted < 64 * 1024 * 1024) {
        f.front.post(id, "data: " + chunk + "\n\n", false, false);
        posted += kChunk;
    }
    CHECK(f.wait_closed(id, 10s));
}

TEST_CASE("front streams — a client that reads is never cut, however much it is sent",
          "[front][live]") {
    StreamFront f;
    StreamClient client(f.front.port());
    const std::uint64_t id = f.wait_opened(1);
    std::atomic<std::size_t> received{0};
    std::mutex m;
    std::condition_variable cv;
    std::thread reader([&] {
        std::vector<char> buf(256 * 1024);
        for (;;) {
            const auto n = ::recv(client.fd, buf.data(), buf.size(), 0);
            if (n <= 0) {
                break;
            }
            received += static_cast<std::size_t>(n);
            cv.notify_all();
        }
        cv.notify_all();
    });
    // 16 MiB in 256 events, each posted once the client has what was posted before it:
    // never more than one event (64 KiB) pending.
    const std::string event = "data: " + std::string(kChunk - 8, 'y') + "\n\n";
    std::size_t sent = 0;
    bool kept_up = true;
    for (int i = 0; i < 256 && kept_up; ++i) {
        f.front.post(id, event, false, false);
        sent += event.size();
        std::unique_lock lock(m);
        // The first bytes (head and retry line) come before the events.
        kept_up = cv.wait_for(lock, 5s, [&] { return received.load() > sent; });
    }
    CHECK(kept_up);
    CHECK_FALSE(f.is_closed(id));
    f.front.post(id, "", true, true);  // the stream's end
    reader.join();
    CHECK(f.wait_closed(id, 5s));
}

TEST_CASE("front streams — a client that hangs up frees its stream at once", "[front][live]") {
    StreamFront f;
    StreamClient first(f.front.port());
    const std::uint64_t a = f.wait_opened(1);
    StreamClient second(f.front.port());
    const std::uint64_t b = f.wait_opened(2);
    first.close();
    CHECK(f.wait_closed(a, 5s));
    CHECK_FALSE(f.is_closed(b));
    // Bytes for a stream that is gone are dropped; the other stream goes on.
    f.front.post(a, "data: late\n\n", false, false);
    f.front.post(b, "data: on\n\n", false, false);
    std::string got;
    std::vector<char> buf(4096);
    while (got.find("data: on") == std::string::npos) {
        const auto n = ::recv(second.fd, buf.data(), buf.size(), 0);
        REQUIRE(n > 0);
        got.append(buf.data(), static_cast<std::size_t>(n));
    }
    CHECK(got.find("retry: 3000") != std::string::npos);
    CHECK_FALSE(f.is_closed(b));
}

#include "ws_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "credentials.hpp"
#include "gateway/ocpp_frame.hpp"
#include "ws_protocol.hpp"

namespace gateway {

namespace {

constexpr std::uint64_t kListenTag = 0;
constexpr std::uint64_t kWakeTag = 1;
constexpr std::size_t kReadChunk = 16 * 1024;
/// Reads per connection per turn, so that one busy peer does not starve the others.
constexpr int kReadsPerTurn = 16;
constexpr int kAcceptBatch = 256;
constexpr std::int64_t kAcceptPauseMs = 100;
constexpr std::int64_t kSweepMs = 100;
constexpr int kListenBacklog = 1024;
/// io_read / io_write results besides a byte count.
constexpr long kWouldBlock = -1;
constexpr long kIoError = -2;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string tls_error_text() {
    std::string text;
    while (const unsigned long e = ERR_get_error()) {
        std::array<char, 256> buf{};
        ERR_error_string_n(e, buf.data(), buf.size());
        if (!text.empty()) {
            text += "; ";
        }
        text += buf.data();
    }
    return text.empty() ? "connection reset" : text;
}

enum class State {
    Tls,        ///< the TLS handshake
    Head,       ///< reading the upgrade request
    Open,       ///< upgraded
    Closing,    ///< our Close frame is queued or sent: waiting for the peer's
    Flushing,   ///< the last bytes (a refusal, a Close answer) are being written
    Lingering,  ///< written and shut down for writing: reading until the peer's EOF
    Dead
};

struct Conn {
    ConnectionId id = 0;
    int fd = -1;
    SSL* ssl = nullptr;
    std::string peer;
    State state = State::Head;
    std::string head;
    ws::Decoder decoder{kMaxFrameBytes};
    std::string out;
    std::size_t out_pos = 0;
    bool tls_wants_write = false;  ///< OpenSSL waits for the socket to take bytes
    bool paused = false;           ///< not reading: too much unsent
    bool connected = false;        ///< reported to events.connected
    std::string identity;
    std::int64_t deadline = 0;  ///< of the handshake, Closing, Flushing or Lingering
    std::int64_t last_input = 0;
    std::int64_t ping_at = 0;  ///< 0: no ping outstanding
    std::uint32_t registered = 0;

    std::size_t unsent() const { return out.size() - out_pos; }
};

struct Command {
    ConnectionId conn;
    std::string text;
    bool close;
};

}  // namespace

struct OcppServer::Impl {
    Impl(const Registry& r, ServerOptions o, ServerEvents e)
        : registry(r), options(std::move(o)), events(std::move(e)), read_buffer(kReadChunk) {}

    const Registry& registry;
    ServerOptions options;
    ServerEvents events;
    int listen_fd = -1;
    int epoll_fd = -1;
    int wake_fd = -1;
    int bound_port = 0;
    SSL_CTX* tls = nullptr;
    std::thread thread;
    std::atomic<bool> stopping{false};
    bool started = false;

    // Shared with the callers of send/close.
    std::mutex outbox_mutex;
    std::vector<Command> outbox;

    // The loop thread's own.
    std::map<ConnectionId, std::unique_ptr<Conn>> conns;
    std::vector<ConnectionId> ready;      ///< read budget used up with input left
    std::vector<ConnectionId> graveyard;  ///< dead: erased after the turn
    ConnectionId next_id = 0;
    int live = 0;
    bool accept_paused = false;
    std::int64_t accept_resume = 0;
    std::vector<char> read_buffer;

    void log(const std::string& level, const std::string& text) const {
        if (events.log) {
            events.log(level, text);
        }
    }
    static std::string name(const Conn& c) {
        return "connection " + std::to_string(c.id) +
               (c.identity.empty() ? " from " + c.peer : " (" + c.identity + ")");
    }

    void open();
    void loop();
    void accept_all();
    void on_event(Conn& c, std::uint32_t ev);
    void tls_handshake(Conn& c);
    void read_some(Conn& c);
    void on_bytes(Conn& c, const char* data, std::size_t n);
    void on_head(Conn& c, std::string_view head);
    void decode(Conn& c);
    void queue(Conn& c, std::string bytes);
    void flush(Conn& c);
    void refuse(Conn& c, int status, std::string_view text, bool ask_credentials = false);
    void begin_close(Conn& c, std::uint16_t code, std::string_view reason);
    void finish_after_flush(Conn& c);
    void linger(Conn& c);
    void kill(Conn& c);
    void update_interest(Conn& c);
    void take_outbox();
    void sweep(std::int64_t now);
    long io_read(Conn& c, char* buf, std::size_t n);
    long io_write(Conn& c, const char* buf, std::size_t n);
};

OcppServer::OcppServer(const Registry& registry, ServerOptions options, ServerEvents events)
    : impl_(std::make_unique<Impl>(registry, std::move(options), std::move(events))) {}

OcppServer::~OcppServer() {
    stop();
    for (int fd : {impl_->listen_fd, impl_->epoll_fd, impl_->wake_fd}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    if (impl_->tls != nullptr) {
        SSL_CTX_free(impl_->tls);
    }
}

void OcppServer::start() {
    if (impl_->started) {
        return;
    }
    impl_->open();
    impl_->started = true;
    impl_->thread = std::thread([this] { impl_->loop(); });
}

void OcppServer::stop() {
    if (!impl_->started || impl_->stopping.exchange(true)) {
        return;
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(impl_->wake_fd, &one, sizeof one);
    impl_->thread.join();
}

int OcppServer::port() const {
    return impl_->bound_port;
}

bool OcppServer::tls() const {
    return impl_->tls != nullptr;
}

void OcppServer::send(ConnectionId conn, std::string text) {
    bool wake = false;
    {
        std::lock_guard<std::mutex> lock(impl_->outbox_mutex);
        wake = impl_->outbox.empty();  // otherwise the loop is woken already
        impl_->outbox.push_back(Command{conn, std::move(text), false});
    }
    if (wake && impl_->wake_fd >= 0) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto n = ::write(impl_->wake_fd, &one, sizeof one);
    }
}

void OcppServer::close(ConnectionId conn) {
    bool wake = false;
    {
        std::lock_guard<std::mutex> lock(impl_->outbox_mutex);
        wake = impl_->outbox.empty();
        impl_->outbox.push_back(Command{conn, {}, true});
    }
    if (wake && impl_->wake_fd >= 0) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto n = ::write(impl_->wake_fd, &one, sizeof one);
    }
}

void OcppServer::Impl::open() {
    if (options.tls_cert.empty() != options.tls_key.empty()) {
        throw std::runtime_error("TLS needs both a certificate and a key");
    }
    if (!options.tls_cert.empty()) {
        tls = SSL_CTX_new(TLS_server_method());
        if (tls == nullptr) {
            throw std::runtime_error("TLS: " + tls_error_text());
        }
        SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION);
        SSL_CTX_set_options(tls, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
        SSL_CTX_set_mode(tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
        if (SSL_CTX_use_certificate_chain_file(tls, options.tls_cert.c_str()) != 1) {
            throw std::runtime_error("TLS certificate " + options.tls_cert + ": " +
                                     tls_error_text());
        }
        if (SSL_CTX_use_PrivateKey_file(tls, options.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(tls) != 1) {
            throw std::runtime_error("TLS key " + options.tls_key + ": " + tls_error_text());
        }
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(options.port);
    if (const int e = ::getaddrinfo(options.host.empty() ? nullptr : options.host.c_str(),
                                    service.c_str(), &hints, &found);
        e != 0) {
        throw std::runtime_error(std::string("cannot resolve ") + options.host + ": " +
                                 ::gai_strerror(e));
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> hold(found, ::freeaddrinfo);
    listen_fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) {
        throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    }
    const int one = 1;
    ::setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listen_fd, found->ai_addr, found->ai_addrlen) != 0 ||
        ::listen(listen_fd, kListenBacklog) != 0) {
        throw std::runtime_error(std::strerror(errno));
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
    bound_port =
        ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd < 0 || wake_fd < 0) {
        throw std::runtime_error(std::string("epoll/eventfd: ") + std::strerror(errno));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
    ev.data.u64 = kWakeTag;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev);
    next_id = 0;
    // Room for every connection: raise the soft descriptor limit up to the hard one.
    rlimit rl{};
    const auto need = static_cast<rlim_t>(options.max_connections) + 256;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : std::min(need, rl.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// ---- the loop ---------------------------------------------------------------------------

void OcppServer::Impl::loop() {
    std::vector<epoll_event> evs(256);
    std::int64_t next_sweep = now_ms() + kSweepMs;
    while (!stopping) {
        std::int64_t now = now_ms();
        std::int64_t wait = ready.empty() ? std::max<std::int64_t>(0, next_sweep - now) : 0;
        if (accept_paused) {
            wait = std::min(wait, std::max<std::int64_t>(0, accept_resume - now));
        }
        const int n = ::epoll_wait(epoll_fd, evs.data(), static_cast<int>(evs.size()),
                                   static_cast<int>(wait));
        for (int i = 0; i < n && !stopping; ++i) {
            const auto& e = evs[static_cast<std::size_t>(i)];
            if (e.data.u64 == kListenTag) {
                accept_all();
            } else if (e.data.u64 == kWakeTag) {
                std::uint64_t count = 0;
                [[maybe_unused]] const auto r = ::read(wake_fd, &count, sizeof count);
                take_outbox();
            } else if (const auto it = conns.find(static_cast<ConnectionId>(e.data.u64));
                       it != conns.end() && it->second->state != State::Dead) {
                on_event(*it->second, e.events);
            }
        }
        if (!ready.empty()) {
            std::vector<ConnectionId> again;
            again.swap(ready);
            for (const auto id : again) {
                if (const auto it = conns.find(id);
                    it != conns.end() && it->second->state != State::Dead) {
                    read_some(*it->second);
                }
            }
        }
        now = now_ms();
        if (accept_paused && now >= accept_resume) {
            accept_paused = false;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = kListenTag;
            ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev);
        }
        if (now >= next_sweep) {
            sweep(now);
            next_sweep = now + kSweepMs;
        }
        for (const auto id : graveyard) {
            conns.erase(id);
        }
        graveyard.clear();
    }
    // Stopping: a Close frame to every upgraded connection (best effort), then close all.
    const std::string bye = ws::encode_close(ws::kCloseGoingAway, "the central system stops");
    for (auto& [id, c] : conns) {
        if (c->state == State::Open) {
            [[maybe_unused]] const long w = io_write(*c, bye.data(), bye.size());
        }
        if (c->ssl != nullptr) {
            SSL_free(c->ssl);
        }
        ::close(c->fd);
    }
    conns.clear();
}

void OcppServer::Impl::accept_all() {
    for (int i = 0; i < kAcceptBatch; ++i) {
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Out of descriptors: pause accepting (level-triggered, the pending
                // connection would wake the loop at once).
                log("warn", std::string("accept: ") + std::strerror(errno) + ": paused");
                accept_paused = true;
                accept_resume = now_ms() + kAcceptPauseMs;
                epoll_event ev{};
                ev.events = 0;
                ev.data.u64 = kListenTag;
                ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, listen_fd, &ev);
            }
            return;
        }
        std::array<char, INET6_ADDRSTRLEN> text{};
        if (peer.ss_family == AF_INET6) {
            ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, text.data(),
                        text.size());
        } else {
            ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, text.data(),
                        text.size());
        }
        if (live >= options.max_connections) {
            // Over the cap: a plain answer is all a refused peer gets (on a TLS port it
            // cannot read it, and sees the connection closed).
            if (tls == nullptr) {
                const std::string busy = ws::refusal_response(503, "too many connections\n");
                [[maybe_unused]] const auto s =
                    ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            ::close(fd);
            log("warn", std::string("refused a connection from ") + text.data() + ": " +
                            std::to_string(live) + " open (--max-connections)");
            continue;
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto c = std::make_unique<Conn>();
        c->id = ++next_id + static_cast<ConnectionId>(kWakeTag);
        c->fd = fd;
        c->peer = text.data();
        c->last_input = now_ms();
        c->deadline = c->last_input + options.handshake_timeout_ms;
        if (tls != nullptr) {
            c->ssl = SSL_new(tls);
            if (c->ssl == nullptr || SSL_set_fd(c->ssl, fd) != 1) {
                log("warn", "TLS: " + tls_error_text());
                if (c->ssl != nullptr) {
                    SSL_free(c->ssl);
                }
                ::close(fd);
                continue;
            }
            SSL_set_accept_state(c->ssl);
            c->state = State::Tls;
        }
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = static_cast<std::uint64_t>(c->id);
        if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            if (c->ssl != nullptr) {
                SSL_free(c->ssl);
            }
            ::close(fd);
            continue;
        }
        c->registered = ev.events;
        ++live;
        conns.emplace(c->id, std::move(c));
    }
}

void OcppServer::Impl::on_event(Conn& c, std::uint32_t ev) {
    if ((ev & EPOLLERR) != 0) {
        kill(c);
        return;
    }
    if ((ev & EPOLLHUP) != 0 && c.paused) {
        kill(c);  // gone both ways while not read: nothing more will come or be read
        return;
    }
    if (c.state == State::Tls) {
        tls_handshake(c);
    } else {
        if ((ev & (EPOLLOUT | EPOLLHUP)) != 0) {
            flush(c);
        }
        // OpenSSL may wait for the socket to be writable to go on reading: a TLS
        // connection reads on any event.
        if (c.state != State::Dead &&
            (c.ssl != nullptr || (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0)) {
            read_some(c);
        }
    }
    if (c.state != State::Dead) {
        update_interest(c);
    }
}

void OcppServer::Impl::update_interest(Conn& c) {
    std::uint32_t want = 0;
    if (!c.paused) {
        want |= EPOLLIN | EPOLLRDHUP;
    }
    if (c.unsent() > 0 || c.tls_wants_write) {
        want |= EPOLLOUT;
    }
    if (want != c.registered) {
        epoll_event ev{};
        ev.events = want;
        ev.data.u64 = static_cast<std::uint64_t>(c.id);
        ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
        c.registered = want;
    }
}

void OcppServer::Impl::tls_handshake(Conn& c) {
    ERR_clear_error();
    c.tls_wants_write = false;
    const int r = SSL_do_handshake(c.ssl);
    if (r == 1) {
        c.state = State::Head;
        read_some(c);  // the request may have come with the handshake's last flight
        return;
    }
    const int e = SSL_get_error(c.ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        return;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        c.tls_wants_write = true;
        return;
    }
    // A plain-text request on the TLS port ends here too ("http request").
    log("info", "TLS handshake with " + c.peer + " failed: " + tls_error_text());
    kill(c);
}

long OcppServer::Impl::io_read(Conn& c, char* buf, std::size_t n) {
    if (c.ssl == nullptr) {
        const auto r = ::recv(c.fd, buf, n, 0);
        if (r >= 0) {
            return static_cast<long>(r);
        }
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? kWouldBlock : kIoError;
    }
    ERR_clear_error();
    const int r = SSL_read(c.ssl, buf, static_cast<int>(n));
    if (r > 0) {
        return r;
    }
    switch (SSL_get_error(c.ssl, r)) {
        case SSL_ERROR_WANT_READ:
            return kWouldBlock;
        case SSL_ERROR_WANT_WRITE:
            c.tls_wants_write = true;
            return kWouldBlock;
        case SSL_ERROR_ZERO_RETURN:
            return 0;
        default:
            return kIoError;
    }
}

long OcppServer::Impl::io_write(Conn& c, const char* buf, std::size_t n) {
    if (c.ssl == nullptr) {
        const auto r = ::send(c.fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0) {
            return static_cast<long>(r);
        }
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? kWouldBlock : kIoError;
    }
    ERR_clear_error();
    const int r = SSL_write(c.ssl, buf, static_cast<int>(std::min<std::size_t>(n, 1 << 20)));
    if (r > 0) {
        return r;
    }
    switch (SSL_get_error(c.ssl, r)) {
        case SSL_ERROR_WANT_WRITE:
            c.tls_wants_write = true;
            return kWouldBlock;
        case SSL_ERROR_WANT_READ:
            return kWouldBlock;
        default:
            return kIoError;
    }
}

void OcppServer::Impl::read_some(Conn& c) {
    if (c.state == State::Tls) {
        tls_handshake(c);
        return;
    }
    bool tls_write_blocked = false;
    for (int reads = 0; c.state != State::Dead && !c.paused; ++reads) {
        if (reads == kReadsPerTurn) {
            ready.push_back(c.id);  // the others' turn; this one goes on after
            return;
        }
        const long n = io_read(c, read_buffer.data(), read_buffer.size());
        if (n > 0) {
            on_bytes(c, read_buffer.data(), static_cast<std::size_t>(n));
            continue;
        }
        if (n == kWouldBlock) {
            tls_write_blocked = c.tls_wants_write;
            break;
        }
        // EOF or a broken connection: nothing more can be exchanged.
        if (c.state == State::Open) {
            log("info", name(c) + ": the peer closed the connection without a Close frame");
        }
        kill(c);
        return;
    }
    if (tls_write_blocked && c.state != State::Dead) {
        update_interest(c);
    }
}

void OcppServer::Impl::on_bytes(Conn& c, const char* data, std::size_t n) {
    c.last_input = now_ms();
    c.ping_at = 0;
    switch (c.state) {
        case State::Head: {
            c.head.append(data, n);
            const auto end = ws::find_head_end(c.head);
            if (!end) {
                if (c.head.size() > ws::kMaxHeadBytes) {
                    refuse(c, 431, "request head too large\n");
                }
                return;
            }
            if (*end > ws::kMaxHeadBytes) {
                refuse(c, 431, "request head too large\n");
                return;
            }
            std::string head = std::move(c.head);
            c.head.clear();
            on_head(c, std::string_view(head).substr(0, *end));
            if (c.state == State::Open && head.size() > *end) {
                // Frames sent right behind the request.
                c.decoder.feed(std::string_view(head).substr(*end));
                decode(c);
            }
            return;
        }
        case State::Open:
        case State::Closing:
            c.decoder.feed(std::string_view(data, n));
            decode(c);
            return;
        case State::Flushing:
        case State::Lingering:
            return;  // read and dropped: the connection is ending
        default:
            return;
    }
}

void OcppServer::Impl::on_head(Conn& c, std::string_view head) {
    const ws::UpgradeRequest req = ws::parse_upgrade(head);
    if (req.status != 0) {
        refuse(c, req.status, req.problem + "\n");
        return;
    }
    c.identity = req.identity;
    // Security profile 1 and 2: Basic credentials on the upgrade; unknown identities and
    // wrong passwords get the same answer.
    const ChargerSpec* charger = registry.find(req.identity);
    const bool authorised =
        charger != nullptr && req.has_basic && check_credentials(*charger, req.user, req.password);
    if (!authorised) {
        log("warn", "refused charger " + req.identity + " from " + c.peer +
                        (charger == nullptr ? ": unknown identity" : ": bad credentials"));
        refuse(c, 401, "unauthorized\n", true);
        return;
    }
    if (!req.offers_ocpp16) {
        refuse(c, 400, "the WebSocket subprotocol ocpp1.6 is required\n");
        return;
    }
    if (req.upgrade_status != 0) {
        refuse(c, req.upgrade_status, req.upgrade_problem + "\n");
        return;
    }
    queue(c, ws::accept_response(req.key));
    if (c.state == State::Dead) {
        return;
    }
    c.state = State::Open;
    c.connected = true;
    if (events.connected) {
        events.connected(c.id, req.identity);
    }
}

void OcppServer::Impl::decode(Conn& c) {
    while (c.state == State::Open || c.state == State::Closing) {
        ws::Event e = c.decoder.next();
        switch (e.kind) {
            case ws::Event::Kind::NeedMore:
                return;
            case ws::Event::Kind::Text:
                if (c.state == State::Open && events.text) {
                    events.text(c.id, std::move(e.data));
                }
                break;
            case ws::Event::Kind::Ping:
                queue(c, ws::encode_frame(ws::Opcode::Pong, e.data));
                break;
            case ws::Event::Kind::Pong:
                break;
            case ws::Event::Kind::Close:
                if (c.state == State::Closing) {
                    linger(c);  // the answer to ours: the handshake is complete
                    return;
                }
                queue(c,
                      ws::encode_close(
                          e.code == ws::kCloseNoStatus ? std::uint16_t{ws::kCloseNormal} : e.code,
                          ""));
                finish_after_flush(c);
                return;
            case ws::Event::Kind::Error:
                log("warn", name(c) + ": " + e.data + ": closed");
                queue(c, ws::encode_close(e.code, e.data));
                finish_after_flush(c);
                return;
        }
    }
}

void OcppServer::Impl::queue(Conn& c, std::string bytes) {
    if (c.state == State::Dead) {
        return;
    }
    if (c.unsent() + bytes.size() > options.max_output_bytes) {
        log("warn", name(c) + ": over " + std::to_string(options.max_output_bytes) +
                        " bytes unsent (it does not read): closed");
        kill(c);
        return;
    }
    if (c.out_pos > 0 && c.out_pos == c.out.size()) {
        c.out.clear();
        c.out_pos = 0;
    }
    c.out += bytes;
    flush(c);
}

void OcppServer::Impl::flush(Conn& c) {
    if (c.state == State::Tls || c.state == State::Dead) {
        return;
    }
    c.tls_wants_write = false;
    while (c.unsent() > 0) {
        const long n = io_write(c, c.out.data() + c.out_pos, c.unsent());
        if (n > 0) {
            c.out_pos += static_cast<std::size_t>(n);
            continue;
        }
        if (n == kWouldBlock) {
            break;
        }
        kill(c);
        return;
    }
    if (c.unsent() == 0) {
        c.out.clear();
        c.out_pos = 0;
        if (c.out.capacity() > kReadChunk) {
            std::string().swap(c.out);
        }
        if (c.state == State::Flushing) {
            linger(c);
            return;
        }
    }
    const bool pause = c.unsent() > options.pause_output_bytes;
    if (pause != c.paused) {
        c.paused = pause;
        if (!pause && c.ssl != nullptr) {
            ready.push_back(c.id);  // OpenSSL may hold read input that epoll cannot see
        }
    }
    update_interest(c);
}

void OcppServer::Impl::refuse(Conn& c, int status, std::string_view text, bool ask_credentials) {
    queue(c, ws::refusal_response(status, text, ask_credentials));
    finish_after_flush(c);
}

void OcppServer::Impl::begin_close(Conn& c, std::uint16_t code, std::string_view reason) {
    if (c.state != State::Open) {
        return;
    }
    queue(c, ws::encode_close(code, reason));
    if (c.state != State::Dead) {
        c.state = State::Closing;
        c.deadline = now_ms() + options.close_timeout_ms;
    }
}

void OcppServer::Impl::finish_after_flush(Conn& c) {
    if (c.state == State::Dead) {
        return;
    }
    c.state = State::Flushing;
    c.deadline = now_ms() + options.close_timeout_ms;
    if (c.unsent() == 0) {
        linger(c);
    }
}

void OcppServer::Impl::linger(Conn& c) {
    // Closing the socket with input unread would reset the connection, and the reset can
    // destroy what was just written: shut down writing and read until the peer's EOF.
    if (c.ssl != nullptr) {
        ERR_clear_error();
        SSL_shutdown(c.ssl);
    }
    ::shutdown(c.fd, SHUT_WR);
    c.state = State::Lingering;
    c.deadline = now_ms() + 1000;
    c.paused = false;
    update_interest(c);
}

void OcppServer::Impl::kill(Conn& c) {
    if (c.state == State::Dead) {
        return;
    }
    c.state = State::Dead;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
    if (c.ssl != nullptr) {
        SSL_free(c.ssl);
        c.ssl = nullptr;
    }
    ::close(c.fd);
    c.fd = -1;
    --live;
    graveyard.push_back(c.id);
    if (c.connected) {
        c.connected = false;
        if (events.closed) {
            events.closed(c.id);
        }
    }
}

void OcppServer::Impl::take_outbox() {
    std::vector<Command> commands;
    {
        std::lock_guard<std::mutex> lock(outbox_mutex);
        commands.swap(outbox);
    }
    for (auto& cmd : commands) {
        const auto it = conns.find(cmd.conn);
        if (it == conns.end() || it->second->state != State::Open) {
            continue;  // gone, or closing: frames after a Close are not sent
        }
        Conn& c = *it->second;
        if (cmd.close) {
            begin_close(c, ws::kCloseNormal, "closed by the central system");
        } else {
            queue(c, ws::encode_frame(ws::Opcode::Text, cmd.text));
        }
    }
}

void OcppServer::Impl::sweep(std::int64_t now) {
    for (auto& [id, cp] : conns) {
        Conn& c = *cp;
        switch (c.state) {
            case State::Tls:
            case State::Head:
                if (now >= c.deadline) {
                    log("info", "connection from " + c.peer + ": no upgrade within " +
                                    std::to_string(options.handshake_timeout_ms) + " ms: closed");
                    kill(c);
                }
                break;
            case State::Open:
                if (c.ping_at != 0 && now - c.ping_at >= options.pong_timeout_ms) {
                    log("info", name(c) + ": no answer to a ping within " +
                                    std::to_string(options.pong_timeout_ms) + " ms: closed");
                    kill(c);
                } else if (c.ping_at == 0 && now - c.last_input >= options.idle_ping_ms) {
                    c.ping_at = now;
                    queue(c, ws::encode_frame(ws::Opcode::Ping, {}));
                }
                break;
            case State::Closing:
            case State::Flushing:
            case State::Lingering:
                if (now >= c.deadline) {
                    kill(c);
                }
                break;
            case State::Dead:
                break;
        }
    }
}

}  // namespace gateway

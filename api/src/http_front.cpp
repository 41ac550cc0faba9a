#include "http_front.hpp"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Exception.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/String.h>
#include <Poco/Timestamp.h>
#include <Poco/URI.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace api::front {

namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
/// A refused body up to this size is read and dropped, so that the connection can go on
/// (and is not reset under the answer); a larger one closes the connection after the answer.
constexpr std::uint64_t kDrainBytes = 1 << 20;
/// After an answer that closes the connection: how long, and how much, the front still reads
/// and drops before closing (a socket closed with unread input is reset, and the reset can
/// destroy the answer before the client reads it).
constexpr std::int64_t kLingerMs = 2000;
constexpr std::size_t kLingerBytes = 1 << 20;
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxChunkLine = 4096;
constexpr int kAcceptBatch = 256;
constexpr int kReadsPerEvent = 8;
constexpr int kListenBacklog = 1024;
/// While accept fails for want of descriptors, it is paused this long.
constexpr std::int64_t kAcceptPauseMs = 100;
constexpr std::uint64_t kListenTag = 0;
constexpr std::uint64_t kWakeTag = 1;
/// POCO's MessageHeader limits (a longer name or value is refused as too large).
constexpr std::size_t kMaxFieldName = 256;
constexpr std::size_t kMaxFieldValue = 8192;
constexpr std::size_t kMaxMethod = 32;
/// A stream whose client has this much unread is closed (it does not read its events).
constexpr std::size_t kMaxStreamBacklog = 1 << 20;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::int64_t ms(std::chrono::milliseconds d) {
    return std::max<std::int64_t>(1, d.count());
}

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), "http front: " + what);
}

bool is_tchar(unsigned char ch) {
    return std::isalnum(ch) != 0 || std::strchr("!#$%&'*+-.^_`|~", ch) != nullptr;
}

bool is_token(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
        return ch != '\0' && is_tchar(static_cast<unsigned char>(ch));
    });
}

/// A field value's characters: visible, space, tab, obs-text; no other control.
bool is_field_value(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        const auto ch = static_cast<unsigned char>(c);
        return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
    });
}

std::string trim(const std::string& s) {
    return Poco::trim(s);
}

/// The comma-separated elements of every field named `name`.
std::vector<std::string> elements(const Poco::Net::HTTPRequest& head, const std::string& name,
                                  std::size_t& fields) {
    std::vector<std::string> out;
    fields = 0;
    for (const auto& [k, v] : head) {
        if (Poco::icompare(k, name) != 0) {
            continue;
        }
        ++fields;
        std::size_t from = 0;
        while (true) {
            const auto comma = v.find(',', from);
            out.push_back(trim(v.substr(from, comma == std::string::npos ? comma : comma - from)));
            if (comma == std::string::npos) {
                break;
            }
            from = comma + 1;
        }
    }
    return out;
}

/// Content-Length: 1*DIGIT, at most 18 digits (no sign, no overflow).
std::optional<std::uint64_t> parse_length(const std::string& s) {
    if (s.empty() || s.size() > 18 ||
        !std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
        return std::nullopt;
    }
    std::uint64_t n = 0;
    for (const char ch : s) {
        n = n * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    return n;
}

int hex_digit(char ch) {
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

struct Refusal {
    std::string msg;
    std::string error;
};

/// The front's own refusals (the envelope's `msg` in Chinese, like every other answer).
Refusal refusal_for(int status, std::size_t max_body) {
    switch (status) {
        case 408:
            return {"请求超时：请求未在时限内完整送达", "request_timeout"};
        case 413:
            return {"请求体过大（上限 " + std::to_string(max_body) + " 字节）",
                    "payload_too_large"};
        case 414:
            return {"请求行过长", "uri_too_long"};
        case 431:
            return {"请求头过大或字段过多", "header_too_large"};
        case 500:
            return {"服务器内部错误", "internal_error"};
        case 501:
            return {"不支持的传输编码", "not_implemented"};
        case 503:
            return {"服务器繁忙，请稍后重试", "server_busy"};
        case 505:
            return {"不支持的 HTTP 版本（仅支持 HTTP/1.0 与 HTTP/1.1）",
                    "http_version_not_supported"};
        default:
            return {"请求格式无效", "bad_request"};
    }
}

enum class Phase { Idle, Head, Body, Chunked, Handling, Writing, Lingering };
enum class ChunkPart { Size, Data, DataEnd, Trailers };

}  // namespace

struct Front::Conn {
    std::uint64_t id = 0;
    int fd = -1;
    std::string address;
    bool closed = false;
    Phase phase = Phase::Idle;
    bool readable = false;  ///< input may be waiting (edge-triggered: until EAGAIN)
    std::int64_t deadline = kNever;
    std::int64_t started = 0;  ///< when the current request's time began
    bool fresh = true;         ///< no request yet: its time runs from the connection
    bool peer_eof = false;     ///< the client will send nothing more
    int requests = 0;
    std::string in;        ///< received, not yet consumed
    std::size_t scan = 0;  ///< where the search for the end of the head goes on
    std::optional<std::list<std::uint64_t>::iterator> idle_pos;
    // the request under way
    std::unique_ptr<Request> req;
    bool keep_alive = false;
    bool head_only = false;
    std::uint64_t body_left = 0;
    bool too_large = false;  ///< the body is over the limit: dropped, then 413
    std::uint64_t dropped = 0;
    ChunkPart chunk = ChunkPart::Size;
    std::size_t trailer_bytes = 0;
    // the answer under way
    std::string out;
    std::size_t out_pos = 0;
    bool answer_complete = false;
    bool close_after = false;
    bool streaming = false;  ///< a stream's head was written: its producer posts the rest
    std::size_t lingered = 0;
};

Front::Front(const HttpServerOptions& options, Handle handle, Refuse refuse, Headers answer_headers)
    : options_(options),
      handle_(std::move(handle)),
      refuse_(std::move(refuse)),
      answer_headers_(std::move(answer_headers)),
      read_buffer_(kReadChunk) {
    if (options_.threads < 1 || options_.max_connections < 1 ||
        options_.max_connections_per_address < 1 || options_.max_queued < 1 ||
        options_.min_body_rate < 1) {
        throw std::invalid_argument(
            "http server: threads, connection caps, queue and body rate must be at least 1");
    }
    const Poco::Net::SocketAddress address(options_.host, static_cast<Poco::UInt16>(options_.port));
    listen_fd_ = ::socket(address.family() == Poco::Net::SocketAddress::IPv6 ? AF_INET6 : AF_INET,
                          SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) {
        fail_errno("socket");
    }
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listen_fd_, address.addr(), address.length()) != 0 ||
        ::listen(listen_fd_, kListenBacklog) != 0) {
        const int e = errno;
        ::close(listen_fd_);
        errno = e;
        fail_errno("cannot listen on " + address.toString());
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) {
        fail_errno("epoll/eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    ev.data.u64 = kWakeTag;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    next_id_ = kWakeTag + 1;
}

Front::~Front() {
    stop();
    for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

void Front::start() {
    if (started_) {
        return;
    }
    started_ = true;
    // Room for every connection: raise the soft descriptor limit if it is lower (up to the
    // hard limit). Beyond the limit, accept pauses briefly (see accept_all).
    rlimit rl{};
    const auto need = static_cast<rlim_t>(options_.max_connections) + 256;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : std::min(need, rl.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    for (int i = 0; i < options_.threads; ++i) {
        workers_.emplace_back([this] { work(); });
    }
    loop_thread_ = std::thread([this] { loop(); });
}

void Front::stop() {
    if (!started_ || stopping_.exchange(true)) {
        return;
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
    loop_thread_.join();
    {
        std::lock_guard<std::mutex> lock(jobs_mutex_);
        workers_stop_ = true;
        jobs_.clear();
    }
    jobs_ready_.notify_all();
    for (auto& t : workers_) {
        t.join();
    }
    workers_.clear();
}

void Front::post(std::uint64_t id, std::string bytes, bool last, bool close) {
    bool wake = false;
    {
        std::lock_guard<std::mutex> lock(done_mutex_);
        wake = done_.empty();  // otherwise the loop is woken already and takes this too
        done_.push_back(Done{id, std::move(bytes), last, close});
    }
    if (wake) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
    }
}

std::string Front::serialize(const HttpResponse& r, const Headers& extra, bool keep_alive,
                             bool head_only, bool stream) const {
    Poco::Net::HTTPResponse h;
    h.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
    h.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(r.status));
    h.setContentType(r.content_type);
    for (const auto& [k, v] : answer_headers_) {
        h.set(k, v);
    }
    for (const auto& [k, v] : extra) {
        h.set(k, v);
    }
    // RFC 9110 §8.6: no Content-Length on a 204; every other answer has one, so the
    // connection can stay open.
    const bool no_body = r.status == 204 || r.status == 304 || r.status < 200;
    if (r.status != 204 && r.status >= 200 && !stream) {
        h.setContentLength64(static_cast<Poco::Int64>(r.body.size()));
    }
    h.setKeepAlive(keep_alive);
    // The Date header, formatted once a second per thread.
    thread_local std::time_t date_second = -1;
    thread_local std::string date;
    if (const std::time_t now = std::time(nullptr); now != date_second) {
        date_second = now;
        date =
            Poco::DateTimeFormatter::format(Poco::Timestamp(), Poco::DateTimeFormat::HTTP_FORMAT);
    }
    h.set("Date", date);
    std::ostringstream text;
    h.write(text);
    std::string bytes = text.str();
    if (!head_only && !no_body) {
        bytes += r.body;
    }
    return bytes;
}

// ---- the event loop ------------------------------------------------------------------------

void Front::loop() {
    std::vector<epoll_event> events(256);
    const auto smallest = std::min({ms(options_.header_timeout), ms(options_.body_timeout),
                                    ms(options_.io_timeout), ms(options_.keep_alive)});
    const std::int64_t sweep_every = std::clamp<std::int64_t>(smallest / 4, 5, 100);
    std::int64_t next_sweep = now_ms() + sweep_every;
    while (!stopping_) {
        std::int64_t now = now_ms();
        std::int64_t wait = ready_.empty() ? std::max<std::int64_t>(0, next_sweep - now) : 0;
        if (accept_paused_) {
            wait = std::min(wait, std::max<std::int64_t>(0, accept_resume_ms_ - now));
        }
        const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                                   static_cast<int>(wait));
        for (int i = 0; i < n && !stopping_; ++i) {
            const std::uint64_t tag = events[static_cast<std::size_t>(i)].data.u64;
            if (tag == kListenTag) {
                accept_all();
            } else if (tag == kWakeTag) {
                std::uint64_t count = 0;
                [[maybe_unused]] const auto r = ::read(wake_fd_, &count, sizeof count);
                take_done();
            } else {
                const auto it = conns_.find(tag);
                if (it != conns_.end() && !it->second->closed) {
                    on_event(*it->second, events[static_cast<std::size_t>(i)].events);
                }
            }
        }
        if (!ready_.empty()) {
            std::vector<std::uint64_t> ready;
            ready.swap(ready_);
            for (const auto id : ready) {
                const auto it = conns_.find(id);
                if (it != conns_.end() && !it->second->closed) {
                    resume(*it->second);
                }
            }
        }
        now = now_ms();
        if (accept_paused_ && now >= accept_resume_ms_) {
            accept_paused_ = false;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = kListenTag;
            ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
        }
        if (now >= next_sweep) {
            sweep();
            next_sweep = now + sweep_every;
        }
        for (const auto id : graveyard_) {
            conns_.erase(id);
        }
        graveyard_.clear();
    }
    for (auto& [id, c] : conns_) {
        kill(*c);
    }
    conns_.clear();
    graveyard_.clear();
}

void Front::accept_all() {
    for (int i = 0; i < kAcceptBatch; ++i) {
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Out of descriptors: free the longest-idle connection and pause accepting
                // (level-triggered, the pending connection would wake the loop at once).
                if (!idle_.empty()) {
                    kill(*conns_.at(idle_.front()));
                }
                accept_paused_ = true;
                accept_resume_ms_ = now_ms() + kAcceptPauseMs;
                epoll_event ev{};
                ev.events = 0;
                ev.data.u64 = kListenTag;
                ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
            }
            return;
        }
        std::string key = address_key(&peer);
        const auto at_address = per_address_.find(key);
        if (at_address != per_address_.end() &&
            at_address->second >= options_.max_connections_per_address) {
            refuse_connection(fd);
            continue;
        }
        if (live_ >= options_.max_connections && !idle_.empty()) {
            kill(*conns_.at(idle_.front()));  // the connection idle longest makes room
        }
        if (live_ >= options_.max_connections) {
            refuse_connection(fd);
            continue;
        }
        ++per_address_[key];
        ++live_;
        count_connections();
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto c = std::make_unique<Conn>();
        c->id = next_id_++;
        c->fd = fd;
        c->address = std::move(key);
        c->started = now_ms();
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;  // registered once: no changes
        ev.data.u64 = c->id;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ::close(fd);
            --live_;
            count_connections();
            if (--per_address_[c->address] == 0) {
                per_address_.erase(c->address);
            }
            continue;
        }
        Conn& conn = *c;
        conns_.emplace(conn.id, std::move(c));
        start_idle(conn);
        conn.deadline = conn.started + ms(options_.header_timeout);
    }
}

void Front::refuse_connection(int fd) {
    static const Poco::Net::HTTPRequest kUnknown;
    std::string bytes;
    try {
        bytes = serialize(refuse_(kUnknown, 503, "连接过多，请稍后重试", "too_many_connections"),
                          {}, false, false);
    } catch (...) {
        bytes.clear();
    }
    count(nullptr, 503);
    [[maybe_unused]] const auto sent =
        ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(fd, SHUT_WR);
    std::array<char, 4096> sink{};
    while (::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT) > 0) {
    }
    ::close(fd);
}

std::string Front::address_key(const void* sockaddr_any) const {
    const auto* sa = static_cast<const sockaddr_storage*>(sockaddr_any);
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (sa->ss_family == AF_INET6) {
        in6_addr a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            ::inet_ntop(AF_INET, &a.s6_addr[12], text.data(), text.size());
            return text.data();
        }
        std::fill(std::begin(a.s6_addr) + 8, std::end(a.s6_addr), std::uint8_t{0});
        ::inet_ntop(AF_INET6, &a, text.data(), text.size());
        return std::string(text.data()) + "/64";
    }
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, text.data(),
                text.size());
    return text.data();
}

void Front::on_event(Conn& c, std::uint32_t events) {
    if ((events & EPOLLERR) != 0) {
        kill(c);
        return;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0) {
        c.readable = true;
    }
    if ((events & (EPOLLOUT | EPOLLHUP)) != 0 && c.phase == Phase::Writing) {
        write_out(c);
    }
    if (!c.closed && c.phase == Phase::Handling && (events & EPOLLHUP) != 0) {
        kill(c);  // gone both ways while its answer is being made: nobody will read it
        return;
    }
    if (!c.closed && c.streaming && (events & (EPOLLRDHUP | EPOLLHUP)) != 0) {
        kill(c);  // a stream's client hung up: nobody will read the next event
        return;
    }
    on_readable(c);
}

void Front::on_readable(Conn& c) {
    // Edge-triggered: read until the socket has nothing more (a short read or EAGAIN), or
    // until the connection stops reading (an answer under way); at most kReadsPerEvent
    // reads in a turn, then the others' turn (the connection goes on the ready list).
    for (int reads = 0; c.readable && !c.closed; ++reads) {
        const bool lingering = c.phase == Phase::Lingering;
        if (!lingering && c.phase != Phase::Idle && c.phase != Phase::Head &&
            c.phase != Phase::Body && c.phase != Phase::Chunked) {
            return;  // later, when its answer is written
        }
        if (reads == kReadsPerEvent) {
            ready_.push_back(c.id);
            return;
        }
        const auto n = ::recv(c.fd, read_buffer_.data(), read_buffer_.size(), 0);
        if (n > 0) {
            if (static_cast<std::size_t>(n) < read_buffer_.size()) {
                c.readable = false;  // drained: the next bytes bring a new event
            }
            if (lingering) {
                c.lingered += static_cast<std::size_t>(n);
                if (c.lingered > kLingerBytes) {
                    kill(c);
                }
                continue;
            }
            c.in.append(read_buffer_.data(), static_cast<std::size_t>(n));
            advance(c);
        } else if (n == 0) {
            c.readable = false;
            c.peer_eof = true;
            if (lingering) {
                kill(c);
                return;
            }
            advance(c);
        } else if (errno == EAGAIN) {
            c.readable = false;
        } else if (errno != EINTR) {
            kill(c);
        }
    }
}

void Front::resume(Conn& c) {
    if (!c.in.empty()) {
        advance(c);
    }
    on_readable(c);
}

void Front::advance(Conn& c) {
    while (!c.closed) {
        bool progressed = false;
        switch (c.phase) {
            case Phase::Idle:
            case Phase::Head:
                progressed = parse_head(c);
                break;
            case Phase::Body:
                progressed = parse_body(c);
                break;
            case Phase::Chunked:
                progressed = parse_chunked(c);
                break;
            default:
                return;  // answering, or done: not parsing
        }
        if (!progressed) {
            if (c.peer_eof && !c.closed) {
                // The client will send nothing more: an incomplete request never completes.
                kill(c);
            }
            return;
        }
    }
}

bool Front::parse_head(Conn& c) {
    if (c.phase == Phase::Idle) {
        // RFC 9112 §2.2: empty lines before a request line are ignored.
        const auto first = c.in.find_first_not_of("\r\n");
        c.in.erase(0, first == std::string::npos ? c.in.size() : first);
        if (c.in.empty()) {
            return false;
        }
        leave_idle(c);
        c.phase = Phase::Head;
        if (!c.fresh) {
            c.started = now_ms();
        }
        c.deadline = c.started + ms(options_.header_timeout);
        c.scan = 0;
        c.keep_alive = false;
        c.head_only = false;
    }
    // Find the empty line that ends the head (lines end in CRLF, or a bare LF).
    std::size_t end = std::string::npos;
    std::size_t pos = c.scan;
    while (true) {
        const auto nl = c.in.find('\n', pos);
        if (nl == std::string::npos) {
            c.scan = pos;
            break;
        }
        const std::size_t len = nl - pos - (nl > pos && c.in[nl - 1] == '\r' ? 1 : 0);
        if (len == 0 && pos > 0) {
            end = nl + 1;
            break;
        }
        pos = nl + 1;
    }
    const auto first_nl = c.in.find('\n');
    const std::size_t line_length = first_nl == std::string::npos ? c.in.size() : first_nl;
    if (line_length > options_.max_request_line) {
        fail(c, 414, true);
        return true;
    }
    if (end == std::string::npos) {
        if (c.in.size() > options_.max_header_bytes) {
            fail(c, 431, true);
            return true;
        }
        return false;
    }
    if (end > options_.max_header_bytes) {
        fail(c, 431, true);
        return true;
    }
    std::string head = c.in.substr(0, end);
    c.in.erase(0, end);
    c.scan = 0;

    // Split into lines; a CR anywhere but before a LF is malformed.
    std::vector<std::string> lines;
    for (std::size_t from = 0; from < head.size();) {
        const auto nl = head.find('\n', from);
        std::string line = head.substr(from, nl - from);
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.find('\r') != std::string::npos) {
            fail(c, 400, true);
            return true;
        }
        lines.push_back(std::move(line));
        from = nl + 1;
    }
    lines.pop_back();  // the empty line

    // The request line: method SP request-target SP HTTP-version (RFC 9112 §3).
    const std::string& line = lines.front();
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos || line.find(' ', sp2 + 1) != std::string::npos) {
        fail(c, 400, true);
        return true;
    }
    const std::string method = line.substr(0, sp1);
    const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string version = line.substr(sp2 + 1);
    c.req = std::make_unique<Request>();
    c.req->peer = c.address;
    if (is_token(method) && method.size() <= kMaxMethod) {
        c.req->head.setMethod(method);
    }
    const bool target_ok =
        !target.empty() && std::all_of(target.begin(), target.end(), [](char ch) {
            const auto u = static_cast<unsigned char>(ch);
            return u > 0x20 && u != 0x7f;
        });
    if (target_ok) {
        c.req->head.setURI(target);
    }
    const bool version_form = version.size() == 8 && version.compare(0, 5, "HTTP/") == 0 &&
                              std::isdigit(static_cast<unsigned char>(version[5])) != 0 &&
                              version[6] == '.' &&
                              std::isdigit(static_cast<unsigned char>(version[7])) != 0;
    if (!version_form || !is_token(method) || method.size() > kMaxMethod || !target_ok) {
        fail(c, 400, true);
        return true;
    }
    c.req->received = std::chrono::steady_clock::now();
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        fail(c, 505, true);  // answered in HTTP/1.1, like every answer
        return true;
    }
    // The header fields (RFC 9112 §5): name ":" OWS value OWS; no space before the colon,
    // no line folding.
    if (lines.size() - 1 > static_cast<std::size_t>(std::max(0, options_.max_header_fields))) {
        fail(c, 431, true);
        return true;
    }
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const std::string& field = lines[i];
        const auto colon = field.find(':');
        if (field.empty() || field[0] == ' ' || field[0] == '\t' || colon == std::string::npos ||
            !is_token(field.substr(0, colon))) {
            fail(c, 400, true);
            return true;
        }
        const std::string value = trim(field.substr(colon + 1));
        if (colon > kMaxFieldName || value.size() > kMaxFieldValue) {
            fail(c, 431, true);
            return true;
        }
        if (!is_field_value(value)) {
            fail(c, 400, true);
            return true;
        }
    }
    // POCO parses the head it now knows to be well-formed.
    try {
        std::istringstream text(head);
        c.req->head.setFieldLimit(std::max(1, options_.max_header_fields));
        c.req->head.read(text);
    } catch (const Poco::Exception&) {
        fail(c, 400, true);
        return true;
    }
    auto& h = c.req->head;
    std::size_t hosts = 0;
    std::size_t length_fields = 0;
    std::size_t coding_fields = 0;
    elements(h, "Host", hosts);
    const auto lengths = elements(h, "Content-Length", length_fields);
    const auto codings = elements(h, "Transfer-Encoding", coding_fields);
    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host.
    if (hosts > 1 || (hosts == 0 && version == "HTTP/1.1")) {
        fail(c, 400, true);
        return true;
    }
    c.keep_alive =
        h.getKeepAlive() && !c.peer_eof && c.requests + 1 < options_.max_keep_alive_requests;
    c.head_only = method == "HEAD";
    c.too_large = false;
    c.dropped = 0;
    const bool expect_continue = version == "HTTP/1.1" && h.getExpectContinue();

    if (coding_fields > 0) {
        // RFC 9112 §6.1–6.3: with a Content-Length too, or in HTTP/1.0, or with chunked not
        // the final coding, the framing is in doubt: 400 and close. Other codings: 501.
        if (length_fields > 0 || version == "HTTP/1.0" || codings.empty() ||
            Poco::icompare(codings.back(), "chunked") != 0) {
            fail(c, 400, true);
            return true;
        }
        if (codings.size() > 1) {
            fail(c, 501, true);
            return true;
        }
        c.phase = Phase::Chunked;
        c.chunk = ChunkPart::Size;
        c.trailer_bytes = 0;
        c.deadline =
            now_ms() + ms(options_.body_timeout) +
            static_cast<std::int64_t>(options_.max_body_bytes * 1000 / options_.min_body_rate);
    } else if (length_fields > 0) {
        // Content-Length: digits only; repeated, every value the same (RFC 9112 §6.3).
        std::optional<std::uint64_t> length;
        for (const auto& v : lengths) {
            const auto n = parse_length(v);
            if (!n || (length && *length != *n)) {
                fail(c, 400, true);
                return true;
            }
            length = n;
        }
        if (*length == 0) {
            dispatch(c);
            return true;
        }
        if (*length > options_.max_body_bytes) {
            if (expect_continue || *length > kDrainBytes) {
                fail(c, 413, true);  // not read: the connection closes after the answer
                return true;
            }
            c.too_large = true;  // read and dropped, then 413; the connection goes on
        }
        c.phase = Phase::Body;
        c.body_left = *length;
        if (!c.too_large) {
            c.req->body.reserve(static_cast<std::size_t>(*length));
        }
        c.deadline = now_ms() + ms(options_.body_timeout) +
                     static_cast<std::int64_t>(*length * 1000 / options_.min_body_rate);
    } else {
        dispatch(c);  // RFC 9112 §6.3: neither: no body
        return true;
    }
    if (expect_continue) {
        static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        if (::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(kContinue.size())) {
            kill(c);  // the send buffer of a connection between requests is empty
        }
    }
    return true;
}

bool Front::parse_body(Conn& c) {
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(c.body_left, c.in.size()));
    if (take == 0) {
        return false;
    }
    if (c.too_large) {
        c.dropped += take;
    } else {
        c.req->body.append(c.in, 0, take);
    }
    c.in.erase(0, take);
    c.body_left -= take;
    if (c.body_left == 0) {
        if (c.too_large) {
            fail(c, 413, false);
        } else {
            dispatch(c);
        }
    }
    return true;
}

bool Front::parse_chunked(Conn& c) {
    switch (c.chunk) {
        case ChunkPart::Size: {
            const auto nl = c.in.find('\n');
            if (nl == std::string::npos) {
                if (c.in.size() > kMaxChunkLine) {
                    fail(c, 400, true);
                    return true;
                }
                return false;
            }
            // chunk-size [ chunk-ext ] CRLF: hex digits, then BWS ";..." (ignored)
            std::size_t i = 0;
            std::uint64_t size = 0;
            for (; i < nl && hex_digit(c.in[i]) >= 0; ++i) {
                size = size * 16 + static_cast<std::uint64_t>(hex_digit(c.in[i]));
                if (i >= 15) {
                    fail(c, 400, true);  // over 2^60: no body is that large
                    return true;
                }
            }
            std::size_t rest = i;
            while (rest < nl && (c.in[rest] == ' ' || c.in[rest] == '\t')) {
                ++rest;
            }
            const bool ends = rest == nl || (rest + 1 == nl && c.in[rest] == '\r');
            if (i == 0 || nl > kMaxChunkLine || (!ends && c.in[rest] != ';') ||
                c.in.find('\r', rest) < nl - 1) {
                fail(c, 400, true);
                return true;
            }
            c.in.erase(0, nl + 1);
            if (size == 0) {
                c.chunk = ChunkPart::Trailers;
            } else {
                c.body_left = size;
                c.chunk = ChunkPart::Data;
            }
            return true;
        }
        case ChunkPart::Data: {
            const auto take =
                static_cast<std::size_t>(std::min<std::uint64_t>(c.body_left, c.in.size()));
            if (take == 0) {
                return false;
            }
            if (!c.too_large && c.req->body.size() + take > options_.max_body_bytes) {
                c.too_large = true;
                c.dropped = c.req->body.size();
                std::string().swap(c.req->body);
            }
            if (c.too_large) {
                c.dropped += take;
                if (c.dropped > kDrainBytes) {
                    fail(c, 413, true);
                    return true;
                }
            } else {
                c.req->body.append(c.in, 0, take);
            }
            c.in.erase(0, take);
            c.body_left -= take;
            if (c.body_left == 0) {
                c.chunk = ChunkPart::DataEnd;
            }
            return true;
        }
        case ChunkPart::DataEnd:
            if (c.in.empty()) {
                return false;
            }
            if (c.in[0] == '\n') {
                c.in.erase(0, 1);
            } else if (c.in.size() < 2) {
                return false;
            } else if (c.in.compare(0, 2, "\r\n") == 0) {
                c.in.erase(0, 2);
            } else {
                fail(c, 400, true);
                return true;
            }
            c.chunk = ChunkPart::Size;
            return true;
        case ChunkPart::Trailers: {
            // Trailer fields are read and ignored, within the head's size limit.
            const auto nl = c.in.find('\n');
            if (nl == std::string::npos) {
                if (c.trailer_bytes + c.in.size() > options_.max_header_bytes) {
                    fail(c, 431, true);
                    return true;
                }
                return false;
            }
            c.trailer_bytes += nl + 1;
            if (c.trailer_bytes > options_.max_header_bytes) {
                fail(c, 431, true);
                return true;
            }
            const bool empty = nl == 0 || (nl == 1 && c.in[0] == '\r');
            c.in.erase(0, nl + 1);
            if (empty) {
                if (c.too_large) {
                    fail(c, 413, false);
                } else {
                    dispatch(c);
                }
            }
            return true;
        }
    }
    return false;
}

void Front::dispatch(Conn& c) {
    bool queued = false;
    {
        std::lock_guard<std::mutex> lock(jobs_mutex_);
        if (jobs_.size() < static_cast<std::size_t>(options_.max_queued)) {
            jobs_.push_back(Job{c.id, std::move(c.req), c.keep_alive, c.head_only});
            queued = true;
        }
    }
    if (!queued) {
        fail(c, 503, false);
        return;
    }
    jobs_ready_.notify_one();
    ++c.requests;
    c.phase = Phase::Handling;
    c.deadline = kNever;
}

void Front::fail(Conn& c, int status, bool close) {
    static const Poco::Net::HTTPRequest kUnknown;
    const auto refusal = refusal_for(status, options_.max_body_bytes);
    HttpResponse r;
    try {
        r = refuse_(c.req ? c.req->head : kUnknown, status, refusal.msg, refusal.error);
    } catch (...) {
        r.status = status;
        r.body = "{\"code\":" + std::to_string(status) +
                 ",\"msg\":\"\",\"data\":null,\"error\":\"" + refusal.error + "\"}";
    }
    count(c.req.get(), r.status);
    const bool keep = !close && c.keep_alive;
    ++c.requests;
    leave_idle(c);
    c.out = serialize(r, {}, keep, c.head_only);
    c.out_pos = 0;
    c.answer_complete = true;
    c.close_after = !keep;
    c.req.reset();
    c.phase = Phase::Writing;
    c.deadline = now_ms() + ms(options_.io_timeout);
    write_out(c);
}

void Front::take_done() {
    std::vector<Done> done;
    {
        std::lock_guard<std::mutex> lock(done_mutex_);
        done.swap(done_);
    }
    for (auto& d : done) {
        const auto it = conns_.find(d.id);
        if (it == conns_.end() || it->second->closed) {
            if (!d.last && closed_) {
                closed_(d.id);  // a stream's bytes for a connection that is gone
            }
            continue;
        }
        Conn& c = *it->second;
        if (c.phase != Phase::Handling && c.phase != Phase::Writing) {
            continue;
        }
        const bool was_empty = c.out_pos == c.out.size();
        if (was_empty) {
            c.out = std::move(d.bytes);
            c.out_pos = 0;
        } else {
            c.out += d.bytes;
        }
        if (d.last) {
            c.answer_complete = true;
            c.close_after = c.close_after || d.close;
        } else {
            c.streaming = true;
        }
        if (c.streaming && c.out.size() - c.out_pos > kMaxStreamBacklog) {
            kill(c);  // the client does not read its stream
            continue;
        }
        if (c.phase == Phase::Handling || was_empty) {
            c.phase = Phase::Writing;
            c.deadline = now_ms() + ms(options_.io_timeout);
        }
        write_out(c);
    }
}

void Front::write_out(Conn& c) {
    while (c.out_pos < c.out.size()) {
        const auto n =
            ::send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
        if (n > 0) {
            c.out_pos += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return;  // on with the next EPOLLOUT
        } else {
            kill(c);
            return;
        }
    }
    c.out.clear();
    c.out_pos = 0;
    if (c.answer_complete) {
        answered(c);
    } else {
        c.deadline = kNever;  // a stream waiting for its next bytes
    }
}

void Front::answered(Conn& c) {
    c.answer_complete = false;
    if (c.close_after || (c.peer_eof && c.in.empty())) {
        start_linger(c);
        return;
    }
    start_idle(c);
    ready_.push_back(c.id);  // a pipelined request may be waiting, or input came meanwhile
}

void Front::start_idle(Conn& c) {
    c.phase = Phase::Idle;
    if (c.requests > 0) {
        c.fresh = false;
        c.started = now_ms();
        c.deadline = c.started + ms(options_.keep_alive);
    }
    leave_idle(c);
    c.idle_pos = idle_.insert(idle_.end(), c.id);
}

void Front::leave_idle(Conn& c) {
    if (c.idle_pos) {
        idle_.erase(*c.idle_pos);
        c.idle_pos.reset();
    }
}

void Front::start_linger(Conn& c) {
    ::shutdown(c.fd, SHUT_WR);
    c.phase = Phase::Lingering;
    c.in.clear();
    c.req.reset();
    c.deadline = now_ms() + kLingerMs;
    if (c.peer_eof) {
        kill(c);
        return;
    }
    ready_.push_back(c.id);
}

void Front::kill(Conn& c) {
    if (c.closed) {
        return;
    }
    c.closed = true;
    leave_idle(c);
    ::close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    const auto it = per_address_.find(c.address);
    if (it != per_address_.end() && --it->second <= 0) {
        per_address_.erase(it);
    }
    --live_;
    count_connections();
    graveyard_.push_back(c.id);
    if (c.streaming && closed_) {
        closed_(c.id);
    }
}

void Front::sweep() {
    const auto now = now_ms();
    for (auto& [id, c] : conns_) {
        if (c->closed || c->deadline > now) {
            continue;
        }
        switch (c->phase) {
            case Phase::Head:
            case Phase::Body:
            case Phase::Chunked:
                fail(*c, 408, true);  // a request that did not arrive in time
                break;
            case Phase::Handling:
                break;
            default:
                kill(*c);  // idle too long, or the client does not read its answer
        }
    }
}

void Front::count(const Request* request, int status) const {
    ApiMetrics* metrics = options_.metrics;
    if (metrics == nullptr) {
        return;
    }
    if (request == nullptr || request->received == std::chrono::steady_clock::time_point{}) {
        metrics->http_request("other", "other", status, 0);
        return;
    }
    std::string path;
    try {
        path = Poco::URI(request->head.getURI()).getPath();
    } catch (const std::exception&) {
        path.clear();  // "other"
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - request->received;
    metrics->http_request(request->head.getMethod(), ApiApp::route_label(path), status,
                          took.count());
}

void Front::count_connections() const {
    if (options_.metrics != nullptr) {
        options_.metrics->connections(live_);
    }
}

// ---- the workers -----------------------------------------------------------------------------

void Front::work() {
    while (true) {
        std::optional<Job> job;
        {
            std::unique_lock<std::mutex> lock(jobs_mutex_);
            jobs_ready_.wait(lock, [this] { return workers_stop_ || !jobs_.empty(); });
            if (workers_stop_) {
                return;
            }
            job.emplace(std::move(jobs_.front()));
            jobs_.pop_front();
        }
        std::string bytes;
        Answer answer;
        try {
            job->request->connection = job->id;
            try {
                answer = handle_(*job->request);
            } catch (...) {
                const auto refusal = refusal_for(500, options_.max_body_bytes);
                answer = Answer{refuse_(job->request->head, 500, refusal.msg, refusal.error), {}};
            }
            // A stream's body ends with the connection: it is never kept alive.
            bytes = serialize(answer.response, answer.headers, job->keep_alive && !answer.stream,
                              job->head_only, answer.stream);
        } catch (...) {
            count(job->request.get(), 500);
            post(job->id, "", true, true);  // nothing to say: close
            continue;
        }
        count(job->request.get(), answer.response.status);
        if (answer.stream) {
            post(job->id, std::move(bytes), false, false);
            if (answer.after_head) {
                answer.after_head();
            }
            continue;
        }
        post(job->id, std::move(bytes), true, !job->keep_alive);
    }
}

}  // namespace api::front

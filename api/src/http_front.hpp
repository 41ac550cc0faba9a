#pragma once
// The event-driven HTTP/1.1 front of the REST API (see api/http_server.hpp for what it
// promises). Linux epoll, one event-loop thread, a bounded pool of workers:
//
//   accept ──► per-connection buffer ──► head parsed (POCO HTTPRequest::read on the buffered
//   head) ──► body decoded (Content-Length or chunked) ──► job queue ──► worker: handle()
//   ──► completion queue + eventfd ──► event loop writes the answer (non-blocking) ──► next
//
// The event loop owns every connection; other threads never touch one, they only post
// bytes for a connection id (a worker's answer; later, a stream's events). Deadlines are
// checked by a sweep of all connections every few milliseconds (at most a quarter of the
// smallest deadline, at most 100 ms). Requests on one connection are answered in order,
// one at a time: while an answer is being made the connection is not read, so pipelined
// requests wait in its buffer.
//
// Streaming (server-sent events, api/live_hub.hpp): a handler's Answer with `stream` set
// is written as a head without Content-Length (the body ends when the connection closes);
// post() with `last == false` marks the connection as streaming and appends to what it
// writes. A stream's producer holds the connection id and posts each event, and posts
// `last == true` (with close) at its end. No worker is held per stream; only the write
// deadline applies while the stream's bytes are pending, and a client that stops reading
// (more than kMaxStreamBacklog pending) or hangs up is closed. The on_closed callback
// tells the producer when a streaming connection is gone.

#include <Poco/Net/HTTPRequest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/http_server.hpp"
#include "api/http_types.hpp"

namespace api::front {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// A whole request as it came: the head (parsed by POCO) and the decoded body.
struct Request {
    Poco::Net::HTTPRequest head;
    std::string body;
    std::string peer;              ///< the client's address (an IPv6 client's /64)
    std::uint64_t connection = 0;  ///< the connection's id, for Front::post (streams)
    /// When the head was read whole with a valid request line (its method and target are
    /// known); unset before, and then counted with method and route "other".
    std::chrono::steady_clock::time_point received{};
};

/// A handler's answer: the response and headers of its own (e.g. a CORS preflight's).
struct Answer {
    Answer() = default;
    Answer(HttpResponse r, Headers h) : response(std::move(r)), headers(std::move(h)) {}
    HttpResponse response;
    Headers headers;
    /// A stream: the head goes without Content-Length, with `response.body` as its first
    /// bytes, and the connection stays in its answer; the producer posts the rest.
    bool stream = false;
    /// For a stream: runs on the worker right after the head was posted, so that whatever
    /// the producer posts from then on follows it.
    std::function<void()> after_head;
};

/// Runs on a worker: the answer to a whole request.
using Handle = std::function<Answer(Request&)>;
/// Runs on the event loop or a worker (must be quick and thread-safe): the answer the front gives
/// itself with `status` (a JSON envelope); `request` holds what is known of the request (maybe only
/// its method and target, maybe nothing).
using Refuse = std::function<HttpResponse(const Poco::Net::HTTPRequest& request, int status,
                                          const std::string& msg, const std::string& error)>;

class Front {
  public:
    /// Binds and listens (throws if it cannot). `answer_headers` go on every answer.
    Front(const HttpServerOptions& options, Handle handle, Refuse refuse, Headers answer_headers);
    ~Front();
    Front(const Front&) = delete;
    Front& operator=(const Front&) = delete;

    void start();
    void stop();
    int port() const { return port_; }

    /// From any thread: `bytes` to write on connection `id`; with `last` the answer is
    /// complete (then the connection closes if `close`, else reads its next request). A
    /// connection closed meanwhile drops them.
    void post(std::uint64_t id, std::string bytes, bool last, bool close);

    /// Called on the event loop (must be quick and thread-safe) with the id of a
    /// streaming connection that closed, or of a connection that was gone when a stream's
    /// bytes were posted to it. Set before start().
    void on_closed(std::function<void(std::uint64_t)> closed) { closed_ = std::move(closed); }

    /// An answer as bytes on the wire: status line (always HTTP/1.1), answer headers,
    /// `extra`, Content-Length (not on 204, nor on a `stream`), Connection, Date; no body if
    /// `head_only`.
    std::string serialize(const HttpResponse& r, const Headers& extra, bool keep_alive,
                          bool head_only, bool stream = false) const;

  private:
    struct Conn;
    struct Job {
        std::uint64_t id;
        std::unique_ptr<Request> request;
        bool keep_alive;
        bool head_only;
    };
    struct Done {
        std::uint64_t id;
        std::string bytes;
        bool last;
        bool close;
    };
    void loop();
    void work();
    void accept_all();
    void refuse_connection(int fd);
    void on_event(Conn& c, std::uint32_t events);
    /// Reads while the connection is in a reading phase (or lingering) and has input.
    void on_readable(Conn& c);
    /// Goes on with a connection from the ready list: what its buffer holds, then its socket.
    void resume(Conn& c);
    /// Parses what the connection's buffer holds; may dispatch a request or answer an error.
    void advance(Conn& c);
    /// Each takes what it can from the buffer: false when it needs more bytes.
    bool parse_head(Conn& c);
    bool parse_body(Conn& c);
    bool parse_chunked(Conn& c);
    void dispatch(Conn& c);
    /// The front's own answer; `close` ends the connection after it.
    void fail(Conn& c, int status, bool close);
    void write_out(Conn& c);
    void answered(Conn& c);
    void start_idle(Conn& c);
    void leave_idle(Conn& c);
    void start_linger(Conn& c);
    /// Closes the connection at once; it is forgotten at the end of the loop's turn.
    void kill(Conn& c);
    void sweep();
    void take_done();
    /// The client's address for the per-address cap (an IPv6 client's /64).
    std::string address_key(const void* sockaddr_storage) const;
    /// Counts an answer with `status` to `request` (nullptr: nothing is known of it) in
    /// options_.metrics, if set; any thread.
    void count(const Request* request, int status) const;
    /// Sets the open connections' gauge (the event loop's).
    void count_connections() const;

    HttpServerOptions options_;
    Handle handle_;
    Refuse refuse_;
    Headers answer_headers_;
    std::function<void(std::uint64_t)> closed_;
    int listen_fd_ = -1;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    int port_ = 0;
    std::thread loop_thread_;
    std::vector<std::thread> workers_;
    std::atomic<bool> stopping_{false};
    bool started_ = false;
    bool accept_paused_ = false;
    std::int64_t accept_resume_ms_ = 0;

    // the event loop's own
    std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns_;
    std::vector<std::uint64_t> graveyard_;  ///< closed this turn, erased at its end
    /// Connections to go on with in this turn: more input than their last turn allowed, or
    /// an answer written (their next request may be buffered already).
    std::vector<std::uint64_t> ready_;
    int live_ = 0;  ///< open connections
    std::unordered_map<std::string, int> per_address_;
    std::list<std::uint64_t> idle_;  ///< idle connections, longest idle first
    std::uint64_t next_id_ = 1;
    std::vector<char> read_buffer_;

    // jobs for the workers
    std::mutex jobs_mutex_;
    std::condition_variable jobs_ready_;
    std::deque<Job> jobs_;
    bool workers_stop_ = false;

    // answers for the event loop
    std::mutex done_mutex_;
    std::vector<Done> done_;
};

}  // namespace api::front

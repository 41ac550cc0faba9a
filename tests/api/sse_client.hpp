#pragma once
// A minimal server-sent-events client for the tests of the live streams: one blocking
// socket, the request line and head written by hand, events parsed as they come.

#include <chrono>
#include <optional>
#include <string>

namespace apitest {

/// One event of a stream: its `event:` name and its `data:` (lines joined by "\n").
struct SseEvent {
    std::string name;
    std::string data;
};

class SseClient {
  public:
    /// Connects to 127.0.0.1:`port` and sends GET `path` (with Accept: text/event-stream).
    SseClient(int port, const std::string& path);
    ~SseClient();
    SseClient(const SseClient&) = delete;
    SseClient& operator=(const SseClient&) = delete;

    /// The status and the head, once read (waits up to `timeout`); 0 if none came.
    int status(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    const std::string& head() const { return head_; }
    /// The body after the head when the answer is not a stream (read to its end).
    std::string body(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    /// The next event (comments are counted, not returned); nullopt after `timeout` or at
    /// the end of the stream.
    std::optional<SseEvent> next(std::chrono::milliseconds timeout);
    /// Whether the server closed the stream (seen while reading).
    bool ended() const { return eof_; }
    int comments() const { return comments_; }
    void close();

  private:
    /// Reads what comes within `until`; false at its end or the stream's end.
    bool fill(std::chrono::steady_clock::time_point until);

    int fd_ = -1;
    std::string buffer_;
    std::string head_;
    int status_ = 0;
    bool eof_ = false;
    int comments_ = 0;
};

}  // namespace apitest

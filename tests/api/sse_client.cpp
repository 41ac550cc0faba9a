#include "sse_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace apitest {

SseClient::SseClient(int port, const std::string& path) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        throw std::runtime_error("sse: cannot connect");
    }
    const std::string req =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        throw std::runtime_error("sse: cannot send");
    }
}

SseClient::~SseClient() {
    close();
}

void SseClient::close() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

bool SseClient::fill(std::chrono::steady_clock::time_point until) {
    if (eof_ || fd_ < 0) {
        return false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          until - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
        return false;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) {
        return false;
    }
    char chunk[4096];
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
        eof_ = true;
        return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
}

int SseClient::status(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (status_ == 0) {
        const auto end = buffer_.find("\r\n\r\n");
        if (end != std::string::npos) {
            head_ = buffer_.substr(0, end + 2);
            buffer_.erase(0, end + 4);
            status_ = std::stoi(head_.substr(9, 3));
            break;
        }
        if (!fill(until)) {
            break;
        }
    }
    return status_;
}

std::string SseClient::body(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    status(timeout);
    const auto cl = head_.find("Content-Length: ");
    const std::size_t length =
        cl == std::string::npos ? std::string::npos : std::stoul(head_.substr(cl + 16));
    while ((length == std::string::npos || buffer_.size() < length) && fill(until)) {
    }
    return buffer_.substr(0, length);
}

std::optional<SseEvent> SseClient::next(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    if (status_ == 0 && status(timeout) == 0) {
        return std::nullopt;
    }
    while (true) {
        const auto end = buffer_.find("\n\n");
        if (end != std::string::npos) {
            const std::string block = buffer_.substr(0, end + 1);
            buffer_.erase(0, end + 2);
            SseEvent ev;
            bool any = false;
            for (std::size_t from = 0; from < block.size();) {
                const auto nl = block.find('\n', from);
                const std::string line = block.substr(from, nl - from);
                from = nl + 1;
                if (line.rfind("event: ", 0) == 0) {
                    ev.name = line.substr(7);
                    any = true;
                } else if (line.rfind("data: ", 0) == 0) {
                    ev.data += (ev.data.empty() ? "" : "\n") + line.substr(6);
                    any = true;
                } else if (!line.empty() && line[0] == ':') {
                    ++comments_;
                }
            }
            if (any) {
                return ev;
            }
            continue;
        }
        if (!fill(until)) {
            return std::nullopt;
        }
    }
}

}  // namespace apitest

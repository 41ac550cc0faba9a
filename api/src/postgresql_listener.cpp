#include "postgresql_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <chrono>
#include <memory>
#include <stdexcept>

#include "postgresql_connection.hpp"

namespace api::sql {

namespace {

using PgConnection = std::unique_ptr<PGconn, decltype(&PQfinish)>;

bool is_identifier(const std::string& s) {
    if (s.empty()) {
        return false;
    }
    for (const char c : s) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return true;
}

}  // namespace

Listener::Listener(const std::string& uri, std::string channel, NoticeFn on_notice,
                   std::chrono::milliseconds first_wait)
    : conninfo_(keyword_connection_string(uri)),
      channel_(std::move(channel)),
      on_notice_(std::move(on_notice)) {
    if (!is_identifier(channel_)) {
        throw std::invalid_argument("not a channel name: " + channel_);
    }
    thread_ = std::thread([this] { run(); });
    const auto until = std::chrono::steady_clock::now() + first_wait;
    while (!listening_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    bool unclaimed = false;
    first_claimed_.compare_exchange_strong(unclaimed, true);
}

Listener::~Listener() {
    stopping_ = true;
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Listener::run() {
    PgConnection conn(nullptr, &PQfinish);
    while (!stopping_) {
        if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
            listening_ = false;
            conn.reset(PQconnectdb(conninfo_.c_str()));
            bool ok = PQstatus(conn.get()) == CONNECTION_OK;
            if (ok) {
                PGresult* r = PQexec(conn.get(), ("LISTEN " + channel_).c_str());
                ok = PQresultStatus(r) == PGRES_COMMAND_OK;
                PQclear(r);
            }
            if (!ok) {
                conn.reset();
                for (int i = 0; i < 5 && !stopping_; ++i) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                }
                continue;
            }
            // Before the constructor returns nothing is cached yet: nothing to forget.
            bool unclaimed = false;
            if (!first_claimed_.compare_exchange_strong(unclaimed, true)) {
                on_notice_("*");  // whatever was sent meanwhile was not heard
            }
            listening_ = true;
        }
        pollfd p{PQsocket(conn.get()), POLLIN, 0};
        // A short timeout: the destructor waits at most this long for the thread.
        if (::poll(&p, 1, 100) < 0) {
            continue;
        }
        if (PQconsumeInput(conn.get()) == 0) {
            conn.reset();  // the server is gone: connect again
            continue;
        }
        while (PGnotify* n = PQnotifies(conn.get())) {
            const std::string payload = n->extra != nullptr ? n->extra : "";
            PQfreemem(n);
            on_notice_(payload);
        }
    }
}

}  // namespace api::sql

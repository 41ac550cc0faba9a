// tcp_nodelay_preload: an LD_PRELOAD shim for benchmarks only (bench/stations_bench.py
// --bridge-nodelay). It sets TCP_NODELAY on every TCP socket the process connects.
//
// mosquitto 2.0.11 (Debian 12) sets TCP_NODELAY on the sockets it accepts
// (`set_tcp_nodelay true`) but not on the socket a bridge connects to the centre with
// (strace: no setsockopt on it). On that link a reply to a request from the centre
// follows the bridge's PUBACK of the request: a second small write while the first is
// unacknowledged, which Nagle's algorithm holds until the centre's delayed ACK (~40 ms).
// Preloaded into a station's broker, the bridge's socket gets TCP_NODELAY too, which shows
// what that wait costs.

#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace {
using ConnectFn = int (*)(int, const sockaddr*, socklen_t);
}

extern "C" int connect(int fd, const sockaddr* address, socklen_t length) {
    static const auto real = reinterpret_cast<ConnectFn>(dlsym(RTLD_NEXT, "connect"));
    if (address != nullptr && (address->sa_family == AF_INET || address->sa_family == AF_INET6)) {
        const int one = 1;
        // Not a TCP socket (UDP): refused, and nothing else changes.
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return real(fd, address, length);
}

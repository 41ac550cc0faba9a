#include "metrics/endpoint.hpp"

#include <prometheus/exposer.h>

#include <stdexcept>

namespace metrics {

Listen parse_listen(const std::string& value) {
    const auto colon = value.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) {
        throw std::invalid_argument("expected HOST:PORT, e.g. 127.0.0.1:9464");
    }
    Listen l;
    l.host = value.substr(0, colon);
    const std::string port = value.substr(colon + 1);
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
        std::stoi(port) > 65535) {
        throw std::invalid_argument("the port is not a number 0..65535: " + port);
    }
    if (l.host.find_first_of(" ,:") != std::string::npos) {
        // civetweb reads a list of ports separated by commas: one address only.
        throw std::invalid_argument("one IPv4 address or host name: " + l.host);
    }
    l.port = std::stoi(port);
    return l;
}

struct Endpoint::Impl {
    prometheus::Exposer exposer;
    explicit Impl(const std::string& address) : exposer(address, 2) {}
};

Endpoint::Endpoint(std::shared_ptr<prometheus::Registry> registry, const Listen& where)
    : registry_(std::move(registry)), host_(where.host) {
    try {
        impl_ = std::make_unique<Impl>(where.host + ":" + std::to_string(where.port));
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot serve metrics on " + where.host + ":" +
                                 std::to_string(where.port) + ": " + e.what());
    }
    impl_->exposer.RegisterCollectable(registry_);
    const auto ports = impl_->exposer.GetListeningPorts();
    port_ = ports.empty() ? where.port : ports.front();
}

Endpoint::~Endpoint() = default;

std::string Endpoint::url() const {
    return "http://" + host_ + ":" + std::to_string(port_) + "/metrics";
}

}  // namespace metrics

#include "gateway/connect_window.hpp"

#include <limits>

namespace gateway {

ConnectWindow::ConnectWindow(std::size_t clients, std::size_t window, std::int64_t patience_ms)
    : window_(window == 0 ? std::numeric_limits<std::size_t>::max() : window),
      patience_ms_(patience_ms),
      connected_(clients) {}

std::vector<std::size_t> ConnectWindow::due(std::int64_t now_ms) {
    std::erase_if(connecting_, [&](const Started& s) {
        return connected_[s.client] || now_ms - s.at_ms >= patience_ms_;
    });
    std::vector<std::size_t> out;
    while (next_ < connected_.size() && connecting_.size() < window_) {
        connecting_.push_back(Started{next_, now_ms});
        out.push_back(next_++);
    }
    return out;
}

void ConnectWindow::connected(std::size_t i) {
    if (i < connected_.size()) {
        connected_[i] = true;
    }
}

}  // namespace gateway

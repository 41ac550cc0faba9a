#include "gateway/command_acks.hpp"

#include "contract/topics.hpp"

namespace gateway {

namespace {

contract::Publication ack_publication(const contract::CommandAck& a) {
    return {contract::pile_topic(a.pile, contract::PileChannel::Acks), contract::to_json(a), 1,
            false};
}

}  // namespace

bool CommandAcks::answer_again(const std::string& pile, const std::string& id,
                               std::vector<contract::Publication>& out) const {
    const auto done = answered_.find(id);
    if (done == answered_.end()) {
        return false;
    }
    contract::CommandAck again = done->second;
    again.pile = pile;
    out.push_back(ack_publication(again));
    return true;
}

std::vector<AckedCommand> CommandAcks::take_acked() {
    std::vector<AckedCommand> taken;
    taken.swap(acked_);
    return taken;
}

void CommandAcks::ack(const std::string& pile, const std::string& id, bool ok, std::string reason,
                      std::vector<contract::Publication>& out) {
    if (id.empty()) {
        return;
    }
    contract::CommandAck a;
    a.id = id;
    a.pile = pile;
    a.ok = ok;
    a.reason = std::move(reason);
    in_progress_.erase(id);
    if (const auto t = types_.find(id); t != types_.end()) {
        acked_.push_back({t->second, ok});
        types_.erase(t);
    }
    if (answered_.emplace(id, a).second) {
        answered_order_.push_back(id);
        if (answered_order_.size() > kRemembered) {
            answered_.erase(answered_order_.front());
            answered_order_.pop_front();
        }
    }
    out.push_back(ack_publication(a));
}

}  // namespace gateway

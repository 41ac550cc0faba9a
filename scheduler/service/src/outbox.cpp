#include "service/outbox.hpp"

#include <utility>

#include "contract/topics.hpp"

namespace service {

void Outbox::command(const std::string& pile, contract::PileCommand cmd) {
    cmd.id = boot_ + "-" + std::to_string(++command_seq_);
    out_.push_back({contract::pile_topic(pile, contract::PileChannel::Commands),
                    contract::to_json(cmd), 1, false});
}

void Outbox::changes(const contract::ChangeBatch& batch) {
    out_.push_back({contract::station_changes_topic(), contract::to_json(batch), 1, false});
}

void Outbox::clock(const contract::ClockMessage& clock) {
    out_.push_back({contract::station_clock_topic(), contract::to_json(clock), 1, true});
}

void Outbox::state(const nlohmann::json& document) {
    out_.push_back({contract::station_state_topic(), document.dump(), 1, true});
}

std::vector<contract::Publication> Outbox::take() {
    std::vector<contract::Publication> out;
    out.swap(out_);
    return out;
}

}  // namespace service

#pragma once
/// @file The scheduler's messages to publish, queued in order until its MQTT adapter takes
/// them, each kind on its topic with its QoS and retain flag: commands to piles (each under
/// a new command id), replies, change batches, and the retained clock and state.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "contract/changes.hpp"
#include "contract/messages.hpp"
#include "contract/publication.hpp"

namespace service {

class Outbox {
  public:
    /// `boot` distinguishes this process's command ids from an earlier one's.
    explicit Outbox(std::string boot) : boot_(std::move(boot)) {}

    /// A command to pile `pile`, under the next command id "<boot>-<n>" (n from 1).
    void command(const std::string& pile, contract::PileCommand cmd);
    /// A reply, as it is.
    void reply(contract::Publication reply) { out_.push_back(std::move(reply)); }
    /// A batch of the change log on station/changes.
    void changes(const contract::ChangeBatch& batch);
    /// The station clock on station/clock, retained.
    void clock(const contract::ClockMessage& clock);
    /// The station/state document, retained.
    void state(const nlohmann::json& document);

    /// The messages queued, oldest first; the queue is left empty.
    std::vector<contract::Publication> take();
    /// Forgets what is queued (command ids go on counting).
    void clear() { out_.clear(); }

  private:
    std::string boot_;
    std::int64_t command_seq_ = 0;
    std::vector<contract::Publication> out_;
};

}  // namespace service

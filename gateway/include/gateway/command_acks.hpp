#pragma once
/// @file The pile commands a gateway has in hand or has answered. The contract's rule for
/// piles: a repeated command id is acknowledged again with the same answer and never acted
/// on twice. The last 1,024 answers are remembered.

#include <cstddef>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "contract/messages.hpp"
#include "contract/publication.hpp"

namespace gateway {

/// A pile command answered (the first time; a repeated command's answer again is not one).
struct AckedCommand {
    contract::CommandType type = contract::CommandType::Start;
    bool ok = false;
};

class CommandAcks {
  public:
    /// If command `id` was answered, appends that answer again (for `pile`) to `out` and
    /// returns true.
    bool answer_again(const std::string& pile, const std::string& id,
                      std::vector<contract::Publication>& out) const;
    /// Whether command `id` is being carried out (its answer comes later).
    bool in_progress(const std::string& id) const { return in_progress_.count(id) > 0; }
    /// Command `id` is being carried out from now on.
    void start(const std::string& id) { in_progress_.insert(id); }
    /// Command `id` (not answered, not in progress) arrived: its answer is counted by
    /// `type` (take_acked).
    void received(const std::string& id, contract::CommandType type) { types_[id] = type; }
    /// The commands answered since the last call, for the shell's metrics.
    std::vector<AckedCommand> take_acked();
    /// Answers command `id` of `pile` (appended to `out`) and remembers the answer. An
    /// empty id (a command the gateway made itself) is not answered.
    void ack(const std::string& pile, const std::string& id, bool ok, std::string reason,
             std::vector<contract::Publication>& out);

  private:
    static constexpr std::size_t kRemembered = 1024;
    std::map<std::string, contract::CommandAck> answered_;
    std::deque<std::string> answered_order_;
    std::set<std::string> in_progress_;
    std::map<std::string, contract::CommandType> types_;  ///< received, not answered yet
    std::vector<AckedCommand> acked_;
};

}  // namespace gateway

#include "gateway/core_io.hpp"

#include "contract/messages.hpp"
#include "contract/topics.hpp"

namespace gateway {

contract::Publication offline_status(std::string_view pile) {
    contract::PileStatus s;
    s.pile = std::string(pile);
    s.online = false;
    return {contract::pile_topic(pile, contract::PileChannel::Status), contract::to_json(s), 1,
            true};
}

}  // namespace gateway

// Fuzz target: every message of the bus (docs/asyncapi.yaml) as its readers parse it —
// pile status, telemetry, events, commands and acknowledgements, the station clock,
// scheduler requests and replies, the change log's batches, the station state — and the
// topic names. The first byte picks the parser (a letter in the seed files, see kKinds);
// the rest is the payload. Properties: a parser never throws or crashes; what it accepts,
// written back with the contract's own to_json, parses again and writes the same text
// (so what one service accepts, it can also pass on).
#include <cstdint>
#include <string>
#include <string_view>

#include "contract/changes.hpp"
#include "contract/messages.hpp"
#include "contract/station_state.hpp"
#include "contract/topics.hpp"
#include "fuzz_support.hpp"

namespace {

template <typename Message>
std::string write(const Message& m) {
    return contract::to_json(m);
}
template <>
std::string write(const contract::StationState& m) {
    return contract::to_json_value(m).dump();
}

// parse -> to_json -> parse -> to_json: the second parse succeeds and both texts agree.
template <typename Message>
void round_trip(std::string_view payload, const char* kind) {
    Message m;
    if (!contract::parse(payload, m).empty()) {
        return;
    }
    const std::string once = write(m);
    Message again;
    const std::string error = contract::parse(once, again);
    fuzz::check(error.empty(), kind, "written back, it does not parse: " + error + "\n" + once);
    const std::string twice = write(again);
    fuzz::check(twice == once, kind, "written back twice, it changes:\n" + once + "\n" + twice);
}

void topic(std::string_view t) {
    if (const auto pile = contract::parse_pile_topic(t)) {
        fuzz::check(contract::valid_topic_id(pile->pile), "a pile topic names an invalid pile", t);
        fuzz::check(contract::pile_topic(pile->pile, pile->channel) == t,
                    "a parsed pile topic is not written back the same", t);
    }
    if (contract::is_replies_topic(t)) {
        fuzz::check(t.rfind(contract::replies_topic(""), 0) == 0,
                    "a replies topic outside replies/", t);
    }
    contract::valid_topic_id(t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string_view payload = fuzz::text(data + 1, size - 1);
    // A letter names the parser (the seed files start with it); any other byte picks one.
    static constexpr std::string_view kKinds = "stecakqrgxp";
    auto kind = kKinds.find(static_cast<char>(data[0]));
    if (kind == std::string_view::npos) {
        kind = data[0] % kKinds.size();
    }
    switch (kKinds[kind]) {
        case 's':
            round_trip<contract::PileStatus>(payload, "pile status");
            break;
        case 't':
            round_trip<contract::Telemetry>(payload, "telemetry");
            break;
        case 'e':
            round_trip<contract::PileEvent>(payload, "pile event");
            break;
        case 'c':
            round_trip<contract::PileCommand>(payload, "pile command");
            break;
        case 'a':
            round_trip<contract::CommandAck>(payload, "command ack");
            break;
        case 'k':
            round_trip<contract::ClockMessage>(payload, "clock");
            break;
        case 'q':
            round_trip<contract::SchedulerRequest>(payload, "scheduler request");
            break;
        case 'r':
            round_trip<contract::SchedulerReply>(payload, "scheduler reply");
            break;
        case 'g':
            round_trip<contract::ChangeBatch>(payload, "change batch");
            break;
        case 'x':
            round_trip<contract::StationState>(payload, "station state");
            break;
        default:
            topic(payload);
            break;
    }
    return 0;
}

#pragma once
// Checks shared by the fuzz targets that run the scheduler: whatever it publishes, and
// whatever it writes to its journal, is accepted by the contract's own readers.

#include <string>
#include <vector>

#include "contract/changes.hpp"
#include "contract/journal.hpp"
#include "contract/messages.hpp"
#include "contract/publication.hpp"
#include "contract/station_state.hpp"
#include "contract/topics.hpp"
#include "fuzz_support.hpp"

namespace fuzz {

template <typename Message>
std::string refusal(const std::string& payload) {
    Message m;
    return contract::parse(payload, m);
}

/// Each publication parses as the message its topic carries.
inline void check_publications(const std::vector<contract::Publication>& publications) {
    for (const auto& p : publications) {
        std::string error;
        if (const auto pile = contract::parse_pile_topic(p.topic)) {
            switch (pile->channel) {
                case contract::PileChannel::Commands:
                    error = refusal<contract::PileCommand>(p.payload);
                    break;
                case contract::PileChannel::Status:
                    error = refusal<contract::PileStatus>(p.payload);
                    break;
                case contract::PileChannel::Telemetry:
                    error = refusal<contract::Telemetry>(p.payload);
                    break;
                case contract::PileChannel::Events:
                    error = refusal<contract::PileEvent>(p.payload);
                    break;
                case contract::PileChannel::Acks:
                    error = refusal<contract::CommandAck>(p.payload);
                    break;
            }
        } else if (p.topic == contract::station_state_topic()) {
            error = refusal<contract::StationState>(p.payload);
        } else if (p.topic == contract::station_clock_topic()) {
            error = refusal<contract::ClockMessage>(p.payload);
        } else if (p.topic == contract::station_changes_topic()) {
            error = refusal<contract::ChangeBatch>(p.payload);
        } else if (contract::is_replies_topic(p.topic)) {
            error = refusal<contract::SchedulerReply>(p.payload);
        } else {
            error = "a topic outside the contract";
        }
        check(error.empty(), "a publication its readers refuse",
              p.topic + ": " + error + "\n" + p.payload);
    }
}

/// The journal's lines: its start line, then entries, each written back the same.
inline void check_journal(const std::vector<std::string>& lines) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string error;
        std::string again;
        if (i == 0) {
            contract::JournalStart start;
            error = contract::parse(lines[i], start);
            again = error.empty() ? contract::to_json(start) : "";
        } else {
            contract::JournalEntry entry;
            error = contract::parse(lines[i], entry);
            again = error.empty() ? contract::to_json(entry) : "";
        }
        check(error.empty(), "a journal line its reader refuses", error + "\n" + lines[i]);
        check(again == lines[i], "a journal line is not written back the same",
              lines[i] + "\n" + again);
    }
}

}  // namespace fuzz

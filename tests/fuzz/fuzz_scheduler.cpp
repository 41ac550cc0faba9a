// Fuzz target: the scheduler service's inbox (SchedulerApp::on_message: every message of
// the bus it subscribes to, and foreign topics), with simulated piles (SimPile) that obey
// its commands and report back, so that fuzzed messages meet a station that really
// charges. The input is lines:
//     piles/F1/status {...}        a message on evcs/v1/<topic> (to the scheduler; on a
//                                  piles/<id>/commands topic, also to that simulated pile)
//     +60000                       the wall clock moves on by that many ms (at most 10^7)
// Properties: nothing throws or crashes; every publication of the scheduler and the piles
// is accepted by the contract's readers; every journal line parses and is written back the
// same; a scheduler resumed from the journal has the same station.
#include <charconv>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "contract/station_state.hpp"
#include "contract/topics.hpp"
#include "fuzz_support.hpp"
#include "pilesim/sim_pile.hpp"
#include "service/scheduler_app.hpp"
#include "station/profile.hpp"
#include "station/time.hpp"
#include "station_checks.hpp"

namespace {

constexpr std::int64_t kWall0 = 1'800'000'000'000;
constexpr std::int64_t kMaxStep = 10'000'000;
constexpr int kMaxLines = 48;

service::SchedulerOptions options(std::vector<std::string>* journal) {
    service::SchedulerOptions o;
    o.clock.simulated = true;
    o.clock.start = *station::parse_datetime("2026-11-25 06:00:00");
    o.clock.speed = 60;  // a wall minute is a station hour
    o.offline_grace_ms = 1000;
    o.state_interval_ms = 500;
    o.boot = "fz";
    o.run = "fuzz-run";
    if (journal != nullptr) {
        o.journal = [journal](const std::string& line) { journal->push_back(line); };
    }
    return o;
}

void quiet(std::string_view, std::string_view) {}

struct Harness {
    station::Profile profile = *station::builtin_profile("bupt-2023");
    std::vector<std::string> journal;
    service::SchedulerApp app{profile, options(&journal), kWall0, quiet};
    std::map<std::string, pilesim::SimPile, std::less<>> piles;
    std::int64_t wall = kWall0;

    Harness() {
        for (const auto& spec : profile.piles) {
            piles.emplace(spec.id, pilesim::SimPile(spec, "sim"));
        }
        app.on_connected(wall);
        for (auto& [id, pile] : piles) {
            pile.report_status(app.station_time(wall));
        }
        settle();
    }

    // Hands the piles' publications (telemetry once) to the scheduler and its commands to
    // the piles until nothing more is said (a few rounds at most).
    void settle() {
        for (int round = 0; round < 8; ++round) {
            const station::TimeMs now = app.station_time(wall);
            bool any = false;
            for (auto& [id, pile] : piles) {
                pile.advance(now);
                if (round == 0) {
                    pile.report_telemetry(now);
                }
                auto out = pile.take_publications();
                fuzz::check_publications(out);
                for (const auto& p : out) {
                    app.on_message(p.topic, p.payload, wall);
                    any = true;
                }
            }
            app.tick(wall);
            auto out = app.take_publications();
            fuzz::check_publications(out);
            for (const auto& p : out) {
                deliver_command(p.topic, p.payload);
            }
            if (!any && out.empty()) {
                return;
            }
        }
    }

    void deliver_command(std::string_view topic, std::string_view payload) {
        const auto pile_topic = contract::parse_pile_topic(topic);
        if (!pile_topic || pile_topic->channel != contract::PileChannel::Commands) {
            return;
        }
        const auto it = piles.find(pile_topic->pile);
        contract::PileCommand cmd;
        if (it != piles.end() && contract::parse(payload, cmd).empty()) {
            it->second.on_command(cmd, app.station_time(wall));
        }
    }

    void line(std::string_view text) {
        if (!text.empty() && text[0] == '+') {
            std::int64_t step = 0;
            std::from_chars(text.data() + 1, text.data() + text.size(), step);
            wall += step < 0 ? 0 : step > kMaxStep ? kMaxStep : step;
        } else {
            std::string_view rest = text;
            const std::string topic =
                std::string(contract::kRoot) + "/" + std::string(fuzz::take_until(rest, ' '));
            app.on_message(topic, rest, wall);
            deliver_command(topic, rest);
            wall += 10;
        }
        settle();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto h = std::make_unique<Harness>();
    std::string_view rest = fuzz::text(data, size);
    for (int n = 0; !rest.empty() && n < kMaxLines; ++n) {
        h->line(fuzz::take_until(rest, '\n'));
    }
    // The clock stops (as an operator would stop it): a resumed simulated clock goes on
    // from the last time its journal holds, not from the wall time spent meanwhile.
    h->line(R"(scheduler/requests {"id":"fz-stop","reply_to":"evcs/v1/replies/fz",)"
            R"("op":"clock_set","speed":0})");
    fuzz::check_journal(h->journal);

    // A restart from the journal rebuilds the same station.
    auto o = options(nullptr);
    o.resume = h->journal;
    const service::SchedulerApp resumed(h->profile, o, h->wall, quiet);
    const std::string before =
        contract::to_json_value(contract::station_state(h->app.station(), 0)).dump();
    const std::string after =
        contract::to_json_value(contract::station_state(resumed.station(), 0)).dump();
    fuzz::check(before == after, "the station resumed from its journal differs",
                before + "\n" + after);
    return 0;
}

#pragma once
/// @file One simulated charging pile, without a broker: it obeys commands, charges at its
/// power on the station clock, reports status, telemetry and events exactly as a real
/// charger would, and faults when told to. Time is passed in.

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "contract/messages.hpp"
#include "contract/publication.hpp"
#include "station/profile.hpp"

namespace pilesim {

class SimPile {
  public:
    /// `boot` must differ between runs (it lets the scheduler spot replayed messages).
    SimPile(station::PileSpec spec, std::string boot);

    const station::PileSpec& spec() const { return spec_; }

    /// A command from the scheduler (or a test driver). Always acknowledged; a repeated
    /// command id is acknowledged again without acting twice.
    void on_command(const contract::PileCommand& cmd, station::TimeMs now);
    /// Moves the pile to `now`: energy accrues, a session that reached its target
    /// finishes (at the exact moment it did), a timed fault ends.
    void advance(station::TimeMs now);
    /// Publishes telemetry of the session in progress (call at the telemetry rate).
    void report_telemetry(station::TimeMs now);
    /// Publishes the retained status (after connecting, and whenever it changes).
    void report_status(station::TimeMs now);
    /// A fault injected from outside (CLI, script); 0 minutes = until cleared.
    void inject_fault(int minutes, station::TimeMs now);
    void clear_fault(station::TimeMs now);

    /// The last-will payload: {online: false}, retained.
    contract::Publication last_will() const;
    /// What to publish, oldest first.
    std::vector<contract::Publication> take_publications();
    /// Station time at which the pile next changes by itself, if any.
    std::optional<station::TimeMs> next_due() const;

    bool charging() const { return session_.has_value(); }
    bool faulty() const { return faulty_; }
    double session_energy(station::TimeMs now) const;

  private:
    struct Session {
        std::string id;
        std::int64_t order;
        double target_kwh;
        station::TimeMs start;
    };

    station::TimeMs finish_time() const;
    void end_session(contract::PileEventType type, station::TimeMs at, std::string reason);
    void event(contract::PileEvent e, station::TimeMs at);
    contract::Origin next_origin();
    station::PileState state() const;

    station::PileSpec spec_;
    std::string boot_;
    std::int64_t seq_ = 0;
    bool on_ = true;
    bool faulty_ = false;
    std::optional<station::TimeMs> fault_until_;
    std::optional<Session> session_;
    std::set<std::string> seen_commands_;
    std::deque<std::string> seen_order_;
    std::vector<contract::Publication> out_;
};

}  // namespace pilesim

#include "pilesim/sim_pile.hpp"

#include <algorithm>

#include "contract/topics.hpp"
#include "station/time.hpp"

namespace pilesim {

using contract::CommandType;
using contract::PileChannel;
using contract::PileEventType;

namespace {
constexpr std::size_t kRememberedCommands = 1024;
}

SimPile::SimPile(station::PileSpec spec, std::string boot)
    : spec_(std::move(spec)), boot_(std::move(boot)) {}

contract::Origin SimPile::next_origin() {
    return contract::Origin{boot_, ++seq_};
}

station::PileState SimPile::state() const {
    if (faulty_) {
        return station::PileState::Fault;
    }
    if (!on_) {
        return station::PileState::Off;
    }
    return session_ ? station::PileState::Work : station::PileState::Rest;
}

double SimPile::session_energy(station::TimeMs now) const {
    if (!session_) {
        return 0;
    }
    const double e =
        spec_.power * station::ms_to_hours(std::max<station::TimeMs>(0, now - session_->start));
    return std::min(e, session_->target_kwh);
}

station::TimeMs SimPile::finish_time() const {
    return session_->start + station::hours_to_ms(session_->target_kwh / spec_.power);
}

std::optional<station::TimeMs> SimPile::next_due() const {
    std::optional<station::TimeMs> due;
    if (session_) {
        due = finish_time();
    }
    if (fault_until_) {
        due = due ? std::min(*due, *fault_until_) : *fault_until_;
    }
    return due;
}

void SimPile::event(contract::PileEvent e, station::TimeMs at) {
    e.pile = spec_.id;
    e.at_ms = at;
    e.origin = next_origin();
    out_.push_back(
        {contract::pile_topic(spec_.id, PileChannel::Events), contract::to_json(e), 1, false});
}

void SimPile::end_session(PileEventType type, station::TimeMs at, std::string reason) {
    contract::PileEvent e;
    e.type = type;
    e.session = session_->id;
    e.order = session_->order;
    e.energy_kwh =
        type == PileEventType::SessionFinished ? session_->target_kwh : session_energy(at);
    e.reason = std::move(reason);
    session_.reset();
    event(std::move(e), at);
}

void SimPile::report_status(station::TimeMs now) {
    contract::PileStatus s;
    s.pile = spec_.id;
    s.online = true;
    s.state = state();
    s.mode = spec_.mode;
    s.power_kw = spec_.power;
    s.session = session_ ? session_->id : "";
    s.at_ms = now;
    s.origin = next_origin();
    out_.push_back(
        {contract::pile_topic(spec_.id, PileChannel::Status), contract::to_json(s), 1, true});
}

void SimPile::report_telemetry(station::TimeMs now) {
    if (!session_) {
        return;
    }
    contract::Telemetry t;
    t.pile = spec_.id;
    t.session = session_->id;
    t.order = session_->order;
    t.energy_kwh = session_energy(now);
    t.power_kw = spec_.power;
    t.at_ms = now;
    t.origin = next_origin();
    out_.push_back(
        {contract::pile_topic(spec_.id, PileChannel::Telemetry), contract::to_json(t), 0, false});
}

contract::Publication SimPile::last_will() const {
    contract::PileStatus s;
    s.pile = spec_.id;
    s.online = false;
    return {contract::pile_topic(spec_.id, PileChannel::Status), contract::to_json(s), 1, true};
}

std::vector<contract::Publication> SimPile::take_publications() {
    std::vector<contract::Publication> out;
    out.swap(out_);
    return out;
}

void SimPile::advance(station::TimeMs now) {
    // Both may be due: whichever came first happens first.
    while (true) {
        const bool finish_due = session_ && finish_time() <= now;
        const bool fault_due = fault_until_ && *fault_until_ <= now;
        if (finish_due && (!fault_due || finish_time() <= *fault_until_)) {
            const station::TimeMs at = finish_time();
            end_session(PileEventType::SessionFinished, at, "");
            report_status(at);
        } else if (fault_due) {
            clear_fault(*fault_until_);
        } else {
            return;
        }
    }
}

void SimPile::inject_fault(int minutes, station::TimeMs now) {
    advance(now);
    if (faulty_) {
        return;
    }
    faulty_ = true;
    if (minutes > 0) {
        fault_until_ = now + minutes * station::kMsPerMinute;
    }
    if (session_) {
        end_session(PileEventType::SessionInterrupted, now, "fault");
    }
    contract::PileEvent e;
    e.type = PileEventType::FaultRaised;
    e.fault_minutes = minutes;
    event(std::move(e), now);
    report_status(now);
}

void SimPile::clear_fault(station::TimeMs now) {
    if (!faulty_) {
        return;
    }
    faulty_ = false;
    fault_until_.reset();
    contract::PileEvent e;
    e.type = PileEventType::FaultCleared;
    event(std::move(e), now);
    report_status(now);
}

void SimPile::on_command(const contract::PileCommand& cmd, station::TimeMs now) {
    advance(now);
    contract::CommandAck ack;
    ack.id = cmd.id;
    ack.pile = spec_.id;
    ack.ok = true;
    const bool repeated = seen_commands_.count(cmd.id) > 0;
    if (!repeated) {
        seen_commands_.insert(cmd.id);
        seen_order_.push_back(cmd.id);
        if (seen_order_.size() > kRememberedCommands) {
            seen_commands_.erase(seen_order_.front());
            seen_order_.pop_front();
        }
        switch (cmd.type) {
            case CommandType::Start:
                if (faulty_ || !on_) {
                    ack.ok = false;
                    ack.reason = faulty_ ? "pile is faulty" : "pile is switched off";
                } else if (session_ && session_->id != cmd.session) {
                    ack.ok = false;
                    ack.reason = "pile is busy with session " + session_->id;
                } else if (!session_) {
                    session_ = Session{cmd.session, cmd.order, cmd.target_kwh, now};
                    contract::PileEvent e;
                    e.type = PileEventType::SessionStarted;
                    e.session = cmd.session;
                    e.order = cmd.order;
                    event(std::move(e), now);
                    report_status(now);
                }
                break;
            case CommandType::Stop:
                if (session_ && session_->id == cmd.session) {
                    end_session(PileEventType::SessionInterrupted, now, "stopped");
                    report_status(now);
                }
                break;
            case CommandType::SwitchOff:
                if (session_) {
                    end_session(PileEventType::SessionInterrupted, now, "switched off");
                }
                on_ = false;
                report_status(now);
                break;
            case CommandType::SwitchOn:
                on_ = true;
                report_status(now);
                break;
            case CommandType::InjectFault:
                inject_fault(cmd.fault_minutes, now);
                break;
            case CommandType::ClearFault:
                clear_fault(now);
                break;
            case CommandType::Reset:
                // A simulated pile restarts at once: what it charged ends there, as a
                // charger's StopTransaction after a reset does; it stays on line.
                if (session_) {
                    end_session(PileEventType::SessionEndedAtPile, now,
                                std::string(contract::reset_stop_reason(cmd.reset)));
                    report_status(now);
                }
                break;
        }
    }
    out_.push_back(
        {contract::pile_topic(spec_.id, PileChannel::Acks), contract::to_json(ack), 1, false});
}

}  // namespace pilesim

#include "replay/replay.hpp"

#include <algorithm>
#include <ostream>

#include "output.hpp"
#include "station/command.hpp"
#include "station/rejection.hpp"
#include "station/station.hpp"
#include "station/time.hpp"

namespace replay {

using detail::Sink;
using station::Mode;
using station::Order;
using station::OrderId;
using station::Outcome;
using station::Place;
using station::Station;
using station::TimeMs;

namespace {

struct EventResult {
    std::string_view text;
    Outcome outcome;
};

// A scenario event is a station command like any other.
Outcome apply(Station& st, const ScenarioEvent& ev) {
    station::Command c;
    c.subject = ev.subject;
    c.mode = ev.mode;
    c.kwh = ev.kwh;
    c.fault_duration = ev.fault_duration;
    switch (ev.kind) {
        case EventKind::Arrive:
            c.op = station::CommandOp::Submit;
            break;
        case EventKind::Cancel:
            c.op = station::CommandOp::Cancel;
            break;
        case EventKind::Change:
            c.op = station::CommandOp::Change;
            break;
        case EventKind::Fault:
            c.op = station::CommandOp::Fault;
            break;
        case EventKind::Recover:
            c.op = station::CommandOp::Recover;
            break;
    }
    return station::apply(st, c);
}

std::string_view final_state(const Order& o) {
    switch (o.place) {
        case Place::WaitingArea:
            return "WAITING";
        case Place::Redispatch:
            return "REDISPATCH";
        default:
            return station::to_string(o.state);
    }
}

// "HH:MM" (or "HH:MM:SS" when the seconds are not zero), "+DAYS" after day 0.
std::string sheet_time(TimeMs t) {
    std::string s = station::format_hms(t);
    if (s.compare(5, 3, ":00") == 0) {
        s.resize(5);
    }
    const auto day = station::day_of(t);
    if (day > 0) {
        s += "+" + std::to_string(day);
    }
    return s;
}

class JsonWriter {
  public:
    static constexpr std::size_t kLookahead = 8;

    explicit JsonWriter(Sink& sink) : s_(sink) {}

    void snapshot(const Station& st, TimeMs t, const std::vector<EventResult>& results) {
        s_.raw("{\"t\":\"").hms(t).raw("\",\"day\":").integer(station::day_of(t));
        s_.raw(",\"events\":[");
        for (std::size_t i = 0; i < results.size(); ++i) {
            s_.raw(i ? ",{\"event\":" : "{\"event\":").str(results[i].text);
            if (results[i].outcome.ok()) {
                s_.raw(",\"ok\":true}");
            } else {
                s_.raw(",\"ok\":false,\"reason\":")
                    .str(station::describe(results[i].outcome.rejection))
                    .ch('}');
            }
        }
        s_.raw("],\"piles\":[");
        for (std::size_t p = 0; p < st.pile_count(); ++p) {
            const auto pi = static_cast<station::PileIndex>(p);
            s_.raw(p ? ",{\"id\":" : "{\"id\":").str(st.pile_spec(pi).id);
            s_.raw(",\"state\":\"")
                .raw(station::to_string(st.pile_state(pi)))
                .raw("\",\"queue\":[");
            bool first = true;
            for (OrderId id : st.pile_queue(pi)) {
                const auto pr = st.progress(id);
                s_.raw(first ? "{\"car\":" : ",{\"car\":").str(st.car_name(st.order(id)));
                s_.raw(",\"kwh\":").money(pr.kwh).raw(",\"fee\":").money(pr.total_fee()).ch('}');
                first = false;
            }
            s_.raw("]}");
        }
        s_.raw("],\"waiting\":[");
        cars(st, st.waiting_area(), /*remaining=*/false);
        s_.raw("],\"redispatch\":[");
        std::vector<OrderId> groups;
        for (Mode m : {Mode::Fast, Mode::Slow}) {
            const auto& g = st.redispatch_group(m);
            groups.insert(groups.end(), g.begin(), g.end());
        }
        cars(st, groups, /*remaining=*/true);
        s_.raw("]}\n");
    }

    void final_line(const Station& st, TimeMs end) {
        s_.raw("{\"end\":{\"t\":\"").hms(end).raw("\",\"day\":").integer(station::day_of(end));
        s_.raw("},\"bills\":[");
        bool first_order = true;
        const auto orders = st.orders();
        for (std::size_t i = 0; i < orders.size(); ++i) {
            const Order& o = orders[i];
            if (i + kLookahead < orders.size()) {
                st.prefetch_car(orders[i + kLookahead]);  // car records are visited at random
            }
            s_.raw(first_order ? "{\"car\":" : ",{\"car\":").str(st.car_name(o));
            first_order = false;
            s_.raw(",\"number\":").str(st.number_text(o));
            s_.raw(",\"state\":\"").raw(final_state(o)).ch('"');
            amounts(o.delivered_kwh, o.charge_fee, o.service_fee);
            s_.raw(",\"sessions\":[");
            for (auto b = o.first_bill; b != station::kNone; b = st.bill(b).next_of_order) {
                const station::Bill& bill = st.bill(b);
                s_.raw(b == o.first_bill ? "{\"pile\":" : ",{\"pile\":")
                    .str(st.pile_spec(bill.pile).id);
                s_.raw(",\"start\":\"")
                    .hms(bill.start)
                    .raw("\",\"start_day\":")
                    .integer(station::day_of(bill.start));
                s_.raw(",\"stop\":\"")
                    .hms(bill.stop)
                    .raw("\",\"stop_day\":")
                    .integer(station::day_of(bill.stop));
                s_.raw(",\"kwh\":").money(bill.kwh).raw(",\"hours\":").money(bill.hours());
                s_.raw(",\"charge_fee\":").money(bill.charge_fee);
                s_.raw(",\"service_fee\":").money(bill.service_fee);
                s_.raw(",\"total\":").money(bill.total_fee()).ch('}');
            }
            s_.raw("]}");
        }
        s_.raw("]}\n");
    }

  private:
    void amounts(double kwh, double charge, double service) {
        s_.raw(",\"kwh\":").money(kwh).raw(",\"charge_fee\":").money(charge);
        s_.raw(",\"service_fee\":").money(service).raw(",\"total\":").money(charge + service);
    }

    void cars(const Station& st, const std::vector<OrderId>& ids, bool remaining) {
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const Order& o = st.order(ids[i]);
            s_.raw(i ? ",{\"car\":" : "{\"car\":").str(st.car_name(o));
            s_.raw(",\"number\":").str(st.number_text(o));
            s_.raw(",\"mode\":\"").ch(station::mode_letter(o.mode)).raw("\",\"kwh\":");
            s_.money(remaining ? o.remaining_kwh() : o.requested_kwh).ch('}');
        }
    }

    Sink& s_;
};

// The course sheet's notation: one row per time, "(car,kWh,fee)" cells.
class TableWriter {
  public:
    explicit TableWriter(Sink& sink) : s_(sink) {}

    void snapshot(const Station& st, TimeMs t, const std::vector<EventResult>&) {
        s_.raw(sheet_time(t));
        for (std::size_t p = 0; p < st.pile_count(); ++p) {
            const auto pi = static_cast<station::PileIndex>(p);
            s_.raw(" | ");
            const auto state = st.pile_state(pi);
            if (state == station::PileState::Fault || state == station::PileState::Off) {
                s_.raw(station::to_string(state));
                continue;
            }
            const auto queue = st.pile_queue(pi);
            if (queue.empty()) {
                s_.ch('-');
            }
            for (std::size_t i = 0; i < queue.size(); ++i) {
                const auto pr = st.progress(queue[i]);
                s_.raw(i ? "/(" : "(").raw(st.car_name(st.order(queue[i]))).ch(',');
                s_.fixed2(pr.kwh).ch(',').fixed2(pr.total_fee()).ch(')');
            }
        }
        s_.raw(" | ");
        cars(st, st.waiting_area(), false);
        s_.raw(" | ");
        std::vector<OrderId> groups;
        for (Mode m : {Mode::Fast, Mode::Slow}) {
            const auto& g = st.redispatch_group(m);
            groups.insert(groups.end(), g.begin(), g.end());
        }
        cars(st, groups, true);
        s_.ch('\n');
    }

    void final_line(const Station&, TimeMs end) { s_.raw("END ").raw(sheet_time(end)).ch('\n'); }

  private:
    void cars(const Station& st, const std::vector<OrderId>& ids, bool remaining) {
        if (ids.empty()) {
            s_.ch('-');
        }
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const Order& o = st.order(ids[i]);
            s_.raw(i ? "-(" : "(").raw(st.car_name(o)).ch(',').ch(station::mode_letter(o.mode));
            s_.ch(',').fixed2(remaining ? o.remaining_kwh() : o.requested_kwh).ch(')');
        }
    }

    Sink& s_;
};

ReplayResult failure(const ScenarioReader& reader) {
    ReplayResult r;
    r.error_line = reader.error_line();
    r.error = reader.error();
    return r;
}

template <typename Writer>
ReplayResult play(Writer& writer, const station::Profile& profile, std::string_view scenario,
                  bool final_only, std::ostream& warn) {
    ScenarioReader reader(scenario);
    ScenarioEvent ev;
    if (!reader.next(ev)) {
        return failure(reader);
    }
    Station st(profile, ev.at);
    // About one order per line: a hint (a line may hold several events, most hold one).
    st.reserve(static_cast<std::size_t>(std::count(scenario.begin(), scenario.end(), '\n')) + 1);
    std::vector<EventResult> results;
    // The next event is read before the current one is applied, so the station can start
    // loading the next car's record while it works (car lookups miss the cache).
    ScenarioEvent next;
    bool more = reader.next(next);
    TimeMs t = ev.at;
    bool pending = true;
    while (pending) {
        t = ev.at;
        st.advance_to(t);
        results.clear();
        while (pending && ev.at == t) {
            if (more) {
                st.prefetch_car(next.subject);
            }
            results.push_back({ev.text, apply(st, ev)});
            pending = more;
            if (more) {
                ev = next;
                more = reader.next(next);
            }
        }
        if (reader.failed()) {
            return failure(reader);
        }
        if (!final_only) {
            writer.snapshot(st, t, results);
        }
    }
    st.run_until_idle();
    TimeMs end = t;
    int unfinished = 0;
    for (const Order& o : st.orders()) {
        if (o.active()) {
            ++unfinished;
        } else {
            end = std::max(end, o.closed_at);
        }
    }
    writer.final_line(st, end);
    if (unfinished > 0) {
        warn << "station-replay: warning: " << unfinished
             << " order(s) can never finish (a pile never recovers); their last state is "
                "reported\n";
    }
    ReplayResult r;
    r.unfinished = unfinished;
    return r;
}

}  // namespace

ReplayResult validate_scenario(std::string_view scenario) {
    ScenarioReader reader(scenario);
    ScenarioEvent ev;
    while (reader.next(ev)) {
    }
    return reader.failed() ? failure(reader) : ReplayResult{};
}

ReplayResult run_replay(const station::Profile& profile, std::string_view scenario,
                        const ReplayOptions& options, std::ostream& out, std::ostream& warn) {
    Sink sink(out);
    if (options.format == OutputFormat::Table) {
        TableWriter w(sink);
        return play(w, profile, scenario, options.final_only, warn);
    }
    JsonWriter w(sink);
    return play(w, profile, scenario, options.final_only, warn);
}

}  // namespace replay

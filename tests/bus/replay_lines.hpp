#pragma once
// The replay's output form (scenario-format.md), built by the end-to-end tests from what
// the running system reports, so that tests/tools/compare_replay.py can judge it against the
// expected lines. Day 0 of the scenario is kScenarioDay0.

#include <nlohmann/json.hpp>

#include "station/time.hpp"

namespace harness {

inline const station::TimeMs kScenarioDay0 =
    *station::parse_date("2026-11-25") * station::kMsPerDay;

/// {"t": "HH:MM:SS", "day": D} of a scenario time.
inline nlohmann::json when(station::TimeMs scenario_t) {
    return nlohmann::json{{"t", station::format_hms(scenario_t)},
                          {"day", station::day_of(scenario_t)}};
}

/// One charging session of the final line; times are scenario times.
inline nlohmann::json session_line(const nlohmann::json& pile, station::TimeMs start,
                                   station::TimeMs stop, const nlohmann::json& kwh,
                                   const nlohmann::json& hours, const nlohmann::json& charge_fee,
                                   const nlohmann::json& service_fee, const nlohmann::json& total) {
    return nlohmann::json{{"pile", pile},
                          {"start", station::format_hms(start)},
                          {"start_day", station::day_of(start)},
                          {"stop", station::format_hms(stop)},
                          {"stop_day", station::day_of(stop)},
                          {"kwh", kwh},
                          {"hours", hours},
                          {"charge_fee", charge_fee},
                          {"service_fee", service_fee},
                          {"total", total}};
}

/// One order of the final line, with its sessions.
struct OrderLine {
    nlohmann::json car, number, state, kwh, charge_fee, service_fee, total, sessions;
};
inline nlohmann::json order_line(const OrderLine& o) {
    return nlohmann::json{
        {"car", o.car},     {"number", o.number},         {"state", o.state},
        {"kwh", o.kwh},     {"charge_fee", o.charge_fee}, {"service_fee", o.service_fee},
        {"total", o.total}, {"sessions", o.sessions}};
}

/// A scheduler reply's stamp ({"at_ms": station ms}) as scenario time.
inline station::TimeMs scenario_time_of(const nlohmann::json& stamp) {
    return stamp["at_ms"].get<station::TimeMs>() - kScenarioDay0;
}

/// The scheduler's state reply data `s` in the replay's snapshot form, with `events`.
inline nlohmann::json snapshot_line(const nlohmann::json& s, const nlohmann::json& events) {
    nlohmann::json line = when(scenario_time_of(s));
    line["events"] = events;
    line["piles"] = nlohmann::json::array();
    for (const auto& p : s["piles"]) {
        auto queue = nlohmann::json::array();
        for (const auto& c : p["queue"]) {
            queue.push_back(
                nlohmann::json{{"car", c["car"]}, {"kwh", c["charged_kwh"]}, {"fee", c["fee"]}});
        }
        line["piles"].push_back(
            nlohmann::json{{"id", p["id"]}, {"state", p["state"]}, {"queue", queue}});
    }
    for (const char* area : {"waiting", "redispatch"}) {
        line[area] = nlohmann::json::array();
        for (const auto& c : s[area]) {
            line[area].push_back(nlohmann::json{
                {"car", c["car"]},
                {"number", c["number"]},
                {"mode", c["mode"]},
                // the need it waits with
                {"kwh", std::string(area) == "waiting" ? c["requested_kwh"] : c["remaining_kwh"]}});
        }
    }
    return line;
}

/// The scheduler's bills reply data `b` in the replay's final-line form: every order's
/// bills, and when the last one closed (at least `last_event`).
inline nlohmann::json final_bills_line(const nlohmann::json& b, station::TimeMs last_event) {
    station::TimeMs end = last_event;
    auto bills = nlohmann::json::array();
    for (const auto& o : b["orders"]) {
        if (o["closed"].is_object()) {
            end = std::max(end, scenario_time_of(o["closed"]));
        }
        auto sessions = nlohmann::json::array();
        for (const auto& s : o["sessions"]) {
            sessions.push_back(session_line(s["pile"], scenario_time_of(s["start"]),
                                            scenario_time_of(s["stop"]), s["kwh"], s["hours"],
                                            s["charge_fee"], s["service_fee"], s["total_fee"]));
        }
        bills.push_back(order_line({o["car"], o["number"], o["state"], o["kwh"], o["charge_fee"],
                                    o["service_fee"], o["total_fee"], sessions}));
    }
    return nlohmann::json{{"end", when(end)}, {"bills", bills}};
}

}  // namespace harness

#include <algorithm>
#include <cstdlib>
#include <ostream>
#include <string>

#include "cli/cli.hpp"
#include "replay/scenario.hpp"

namespace harness {

/// Plays a scenario through `driver` (start_at, advance_to, apply(event) -> ok,
/// snapshot(events) -> line), writing one snapshot line per event time to `out`. Returns
/// the last event's time, or nullopt if the scenario did not read.
template <typename Driver>
std::optional<station::TimeMs> play_scenario(const std::string& scenario, Driver& driver,
                                             std::ostream& out) {
    replay::ScenarioReader reader(scenario);
    replay::ScenarioEvent ev;
    if (!reader.next(ev)) {
        return std::nullopt;
    }
    driver.start_at(ev.at);
    bool more = true;
    station::TimeMs t = ev.at;
    while (more) {
        t = ev.at;
        driver.advance_to(t);
        auto events = nlohmann::json::array();
        while (more && ev.at == t) {
            events.push_back(
                nlohmann::json{{"event", std::string(ev.text)}, {"ok", driver.apply(ev)}});
            more = reader.next(ev);
        }
        out << driver.snapshot(events).dump() << "\n";
    }
    if (reader.failed()) {
        return std::nullopt;
    }
    return t;
}

/// The verdict of `compare_tool` (tests/tools/compare_replay.py) on `actual` against
/// case42.expected.jsonl in `acceptance_dir`: "match\n", or its exit status and differences.
inline std::string compare_with_case42(const std::string& compare_tool,
                                       const std::string& acceptance_dir, const std::string& dir,
                                       const std::string& actual) {
    const std::string cmd = "python3 " + compare_tool + " " + acceptance_dir +
                            "/case42.expected.jsonl " + actual + " > " + dir + "/compare.txt 2>&1";
    const int rc = std::system(cmd.c_str());
    std::string diff;
    cli::read_file(dir + "/compare.txt", diff);
    return rc == 0 ? diff : "exit " + std::to_string(rc) + ": " + diff;
}

}  // namespace harness

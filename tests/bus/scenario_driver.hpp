#pragma once
// The driver of harness::play_scenario for the end-to-end acceptance tests: a scenario's
// arrivals, changes and cancels go to the scheduler as requests, its clock is stepped by
// request, and its snapshots and final bills are read back in the replay's form. How a
// pile's fault or recovery happens is the test's (its simulated piles, OCPP chargers or
// vendor chargers), in `pile_event`.

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "contract/messages.hpp"
#include "harness.hpp"
#include "replay/scenario.hpp"
#include "replay_lines.hpp"
#include "station/time.hpp"

namespace harness {

class ScenarioDriver {
  public:
    explicit ScenarioDriver(Probe& probe) : probe_(probe) {}
    virtual ~ScenarioDriver() = default;
    ScenarioDriver(const ScenarioDriver&) = delete;
    ScenarioDriver& operator=(const ScenarioDriver&) = delete;

    contract::SchedulerReply request(contract::SchedulerRequest r) {
        return probe_.request(r, std::chrono::seconds(10));
    }

    nlohmann::json state() {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::State;
        const auto reply = request(r);
        REQUIRE(reply.ok);
        return reply.data;
    }

    // The pile's state, or "" if the scheduler did not answer: while the system comes up
    // a request can go out before the scheduler has subscribed, and is then lost.
    std::string pile_state(const std::string& pile) {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::State;
        const auto reply = probe_.request(r, std::chrono::seconds(2));
        if (!reply.ok) {
            return "";
        }
        for (const auto& p : reply.data["piles"]) {
            if (p["id"] == pile) {
                return p["state"];
            }
        }
        return "";
    }

    void advance_to(station::TimeMs t) {
        if (t > now_) {
            contract::SchedulerRequest r;
            r.op = contract::RequestOp::ClockAdvance;
            r.advance_seconds = (t - now_) / station::kMsPerSecond;
            REQUIRE(request(r).ok);
            now_ = t;
        }
    }
    void start_at(station::TimeMs t) { now_ = t; }
    station::TimeMs now() const { return now_; }

    bool apply(const replay::ScenarioEvent& ev) {
        contract::SchedulerRequest r;
        r.car = std::string(ev.subject);
        switch (ev.kind) {
            case replay::EventKind::Arrive:
                r.op = contract::RequestOp::Submit;
                r.mode = ev.mode;
                r.kwh = ev.kwh;
                return request(r).ok;
            case replay::EventKind::Cancel:
                r.op = contract::RequestOp::Cancel;
                return request(r).ok;
            case replay::EventKind::Change:
                r.op = contract::RequestOp::Change;
                r.mode = ev.mode;
                r.kwh = ev.kwh;
                return request(r).ok;
            case replay::EventKind::Fault:
            case replay::EventKind::Recover:
                return pile_event(ev);
        }
        return false;
    }

    // The state in the replay's snapshot form (scenario-format.md).
    virtual nlohmann::json snapshot(const nlohmann::json& events) {
        return snapshot_line(state(), events);
    }

    nlohmann::json bills() {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::Bills;
        const auto reply = request(r);
        REQUIRE(reply.ok);
        return reply.data;
    }

    bool all_closed() {
        const nlohmann::json b = bills();  // kept: a range over a temporary's member dangles
        for (const auto& o : b["orders"]) {
            if (!o["closed"].is_object()) {
                return false;
            }
        }
        return true;
    }

    // Runs on until every order is closed (at most two days), then the final line.
    nlohmann::json finish(station::TimeMs last_event) {
        for (int hour = 0; hour < 48 && !all_closed(); ++hour) {
            advance_to(now_ + station::kMsPerHour);
            after_step();
        }
        return final_bills_line(bills(), last_event);
    }

  protected:
    // A fault or recovery of the scenario, as the test's piles make it; true when the
    // scheduler shows it.
    virtual bool pile_event(const replay::ScenarioEvent& ev) = 0;
    // After each hour `finish` steps (e.g. waiting for chargers to catch up).
    virtual void after_step() {}
    // Waits until the scheduler shows the pile faulty (or not).
    bool scheduler_shows(const replay::ScenarioEvent& ev) {
        const bool fault = ev.kind == replay::EventKind::Fault;
        const std::string pile(ev.subject);
        return Probe::eventually([&] { return (pile_state(pile) == "FAULT") == fault; },
                                 std::chrono::seconds(10));
    }

    Probe& probe_;
    station::TimeMs now_ = 0;
};

// Plays the acceptance case `scenario` through `driver` into DIR/actual.jsonl, runs on
// until every order is closed, and compares the lines with the expected ones of
// `acceptance` by `compare_tool`: "match\n" when they match, else the differences.
inline std::string play_case42(ScenarioDriver& driver, const std::string& scenario,
                               const std::string& compare_tool, const std::string& acceptance,
                               const std::string& dir) {
    std::ofstream out(dir + "/actual.jsonl");
    const auto last = play_scenario(scenario, driver, out);
    REQUIRE(last);
    out << driver.finish(*last).dump() << "\n";
    out.close();
    return compare_with_case42(compare_tool, acceptance, dir, dir + "/actual.jsonl");
}

}  // namespace harness

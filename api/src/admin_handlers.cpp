// The administrator's views of the station, pile switching and resets, reports and the
// simulation controls of station-rules §9.
#include "api/api_app.hpp"
#include "api/body_fields.hpp"
#include "api/money.hpp"
#include "api_internal.hpp"
#include "cli/cli.hpp"
#include "station/report.hpp"
#include "station/time.hpp"

namespace api {

using nlohmann::json;
using namespace detail;

namespace {

json totals_fields(json j, const Totals& t) {
    j["total_charge"] = money(t.kwh);
    j["total_charge_times"] = t.charges;
    j["total_charge_duration"] = money(t.hours);
    j["total_charge_fee"] = yuan(t.charge_fee_cents);
    j["total_charge_service"] = yuan(t.service_fee_cents);
    j["total_fee"] = yuan(t.charge_fee_cents + t.service_fee_cents);
    return j;
}

// A car block of the API document from one car of the station state.
json car_block(StorePort& store, const std::string& station, const StationSnapshot& snap,
               const contract::StateCar& live, const std::string& state) {
    std::optional<CarRecord> car;
    if (const auto id = parse_id(live.car)) {
        car = store.car(*id);
    }
    const auto order =
        store.order_id_by_key(station, snap.run() + "/" + std::to_string(live.order));
    const double current =
        car ? std::min(car->capacity_kwh, car->current_kwh + live.charged_kwh) : 0.0;
    return json{{"number", live.number},
                {"car_id", live.car},
                {"user_id", car ? std::to_string(car->user_id) : ""},
                {"name", car ? car->name : live.car},
                {"power_capacity", car ? car->capacity_kwh : 0.0},
                {"power_current", money(current)},
                {"apply_kwh", live.requested_kwh},
                {"wait_time", live.waited_hours},
                {"state", state},
                {"order_id", order ? std::to_string(*order) : ""},
                {"charged_kwh", live.charged_kwh},
                {"remaining_kwh", live.remaining_kwh},
                {"fee", live.fee()}};
}

std::string mode_text(station::Mode m) {
    return std::string(1, station::mode_letter(m));
}

json pile_json(StorePort& store, const std::string& station, const StationSnapshot& snap,
               const contract::StatePile& p, const Totals& totals, bool with_totals) {
    json blocks = json::array();
    for (const contract::StateCar& c : p.queue) {
        blocks.push_back(
            car_block(store, station, snap, c, std::string(contract::to_string(c.status))));
    }
    json j{{"id", p.id},
           {"name", p.name},
           {"mode", mode_text(p.mode)},
           {"state", station::to_string(p.state)},
           {"power", p.power_kw}};
    if (with_totals) {
        j = totals_fields(std::move(j), totals);
    }
    j["car_blocks"] = std::move(blocks);
    return j;
}

const contract::StatePile* find_pile(const StationSnapshot& snap, const std::string& id) {
    for (const contract::StatePile& p : snap.state.piles) {
        if (p.id == id) {
            return &p;
        }
    }
    return nullptr;
}

// The pile the `charge_id` parameter names; nullptr, with `failure` the answer, when it is
// missing (400) or unknown.
const contract::StatePile* pile_param(const HttpRequest& r, const StationSnapshot& snap,
                                      HttpResponse& failure) {
    const std::string id = query_param(r, "charge_id");
    if (id.empty()) {
        failure = bad_request("缺少参数 charge_id");
        return nullptr;
    }
    const contract::StatePile* p = find_pile(snap, id);
    if (!p) {
        failure = refusal("充电桩不存在", "unknown_pile");
    }
    return p;
}

}  // namespace

std::string ApiApp::manage_body(Served& at) {
    const auto snap = current_view(at);
    const auto cars = store_.cars_version();
    const auto bills = store_.bills_version();
    {
        std::lock_guard lock(at.manage_mutex);
        if (at.manage_body && at.manage_snapshot == snap && at.manage_cars_version == cars &&
            at.manage_bills_version == bills) {
            return *at.manage_body;
        }
    }
    std::map<std::string, Totals> totals;
    for (auto& [pile, t] : store_.pile_totals(at.id())) {
        totals[pile] = t;
    }
    json piles = json::array();
    json waiting = json::array();
    json redispatch = json::array();
    for (const contract::StatePile& p : snap->state.piles) {
        piles.push_back(pile_json(store_, at.id(), *snap, p, totals[p.id], true));
    }
    for (const contract::StateCar& c : snap->state.waiting) {
        waiting.push_back(car_block(store_, at.id(), *snap, c, "WAITING"));
    }
    for (const contract::StateCar& c : snap->state.redispatch) {
        redispatch.push_back(car_block(store_, at.id(), *snap, c, "DISPATCHED"));
    }
    json data{{"id", at.id().empty() ? "station" : at.id()},
              {"name", snap->state.profile},
              {"time", snap->known ? station::format_datetime(snap->state.at_ms) : ""},
              {"charge_array", std::move(piles)},
              {"wait_array", std::move(waiting)},
              {"redispatch_array", std::move(redispatch)}};
    auto body = std::make_shared<const std::string>(success("查询成功", data).body);
    std::lock_guard lock(at.manage_mutex);
    at.manage_snapshot = snap;
    at.manage_cars_version = cars;
    at.manage_bills_version = bills;
    at.manage_body = body;
    return *body;
}

HttpResponse ApiApp::get_manage(Context& c) {
    HttpResponse r;
    r.body = manage_body(*c.at);
    return r;
}

HttpResponse ApiApp::post_manage(Context& c) {
    BodyFields f(c.body);
    const auto mode = f.text("mode", Need::Required, 16);
    const auto piles = f.texts("switch_array", Need::Required);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    if (*mode != "SWITCHON" && *mode != "SWITCHOFF") {
        return bad_request("开关模式 mode 必须是 SWITCHON 或 SWITCHOFF");
    }
    if (piles->empty()) {
        return bad_request("switch_array 不能为空");
    }
    const auto snap = c.at->view.snapshot();
    for (const std::string& id : *piles) {
        if (!find_pile(*snap, id)) {
            return refusal("充电桩 " + id + " 不存在", "unknown_pile");
        }
    }
    json results = json::array();
    int failed = 0;
    for (const std::string& id : *piles) {
        contract::SchedulerRequest r;
        r.op = *mode == "SWITCHON" ? contract::RequestOp::SwitchOn : contract::RequestOp::SwitchOff;
        r.pile = id;
        const auto reply = ask(*c.at, r);
        if (!reply) {
            return scheduler_unavailable();
        }
        failed += reply->ok ? 0 : 1;
        results.push_back(json{{"charge_id", id},
                               {"ok", reply->ok},
                               {"msg", reply->ok ? "成功" : refusal_message(reply->error)}});
    }
    refresh_view(*c.at);
    if (failed > 0) {
        return envelope(200, 1, std::to_string(failed) + " 个充电桩未能切换",
                        json{{"results", results}}, "partly_refused");
    }
    return success(*mode == "SWITCHON" ? "已开启" : "已关闭", json{{"results", results}});
}

HttpResponse ApiApp::post_reset(Context& c) {
    BodyFields f(c.body);
    const auto pile = f.text("charge_id", Need::Required, 64);
    const auto type = f.text("type", Need::Required, 8);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    if (*type != "Soft" && *type != "Hard") {
        return bad_request("重启方式 type 必须是 Soft 或 Hard");
    }
    contract::SchedulerRequest r;
    r.op = contract::RequestOp::Reset;
    r.pile = *pile;
    r.reset = *type == "Hard" ? contract::ResetKind::Hard : contract::ResetKind::Soft;
    HttpResponse failure;
    if (!change(*c.at, r, failure)) {
        return failure;
    }
    // Sent, not done: the charger's answer comes later (the scheduler logs a refusal), and
    // its restart shows in the station (the pile offline, then back).
    return success("已发送重启命令", json{{"charge_id", *pile}, {"type", *type}});
}

HttpResponse ApiApp::get_charge(Context& c) {
    const auto snap = current_view(*c.at);
    HttpResponse failure;
    const contract::StatePile* p = pile_param(c.request, *snap, failure);
    if (!p) {
        return failure;
    }
    return success("查询成功", pile_json(store_, c.at->id(), *snap, *p, Totals{}, false));
}

HttpResponse ApiApp::get_report(Context& c) {
    const auto snap = current_view(*c.at);
    HttpResponse failure;
    const contract::StatePile* p = pile_param(c.request, *snap, failure);
    if (!p) {
        return failure;
    }
    const std::string id = query_param(c.request, "charge_id");
    const auto now = c.at->view.station_now(now_ms()).value_or(snap->state.at_ms);
    json data{{"id", id},
              {"name", p->name},
              {"mode", mode_text(p->mode)},
              {"state", station::to_string(p->state)},
              {"time", station::format_datetime(now)}};
    const std::string period_text = query_param(c.request, "period");
    const std::string date_text = query_param(c.request, "date");
    if (period_text.empty()) {
        if (!date_text.empty()) {
            return bad_request("参数 date 需要与 period 一起使用");
        }
        Totals t;
        for (auto& [pile, totals] : store_.pile_totals(c.at->id())) {
            if (pile == id) {
                t = totals;
            }
        }
        data["period"] = "all";
        return success("查询成功", totals_fields(std::move(data), t));
    }
    const auto period = station::parse_period(period_text);
    if (!period) {
        return bad_request("参数 period 必须是 day、week 或 month");
    }
    std::int64_t day = station::day_of(now);
    if (!date_text.empty()) {
        const auto d = station::parse_date(date_text);
        if (!d) {
            return bad_request("参数 date 必须是 YYYY-MM-DD 格式的日期");
        }
        day = *d;
    }
    const auto span = station::period_span(*period, day);
    data["period"] = period_text;
    data["from"] = station::format_datetime(span.from);
    data["to"] = station::format_datetime(span.to);
    return success("查询成功", totals_fields(std::move(data),
                                             store_.report(c.at->id(), id, span.from, span.to)));
}

// ---- simulation control ----------------------------------------------------------------

HttpResponse ApiApp::get_clock(Context& c) {
    contract::SchedulerRequest r;
    r.op = contract::RequestOp::ClockGet;
    const auto reply = ask(*c.at, r);
    if (!reply) {
        return scheduler_unavailable();
    }
    contract::ClockReading clock;
    if (const std::string error = contract::parse_value(reply->data, clock); !error.empty()) {
        if (log_) {
            log_("warn", "the scheduler's clock reply refused: " + error);
        }
        return scheduler_unavailable();
    }
    if (!clock.simulated) {
        return refusal(refusal_message("not_simulation"), "not_simulation");
    }
    return success("查询成功", contract::to_json_value(clock));
}

HttpResponse ApiApp::post_clock(Context& c) {
    BodyFields f(c.body);
    const auto time = f.text("time", Need::Optional, 19);
    const auto speed = f.number("speed", Need::Optional);
    const auto advance = f.number("advance_seconds", Need::Optional);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    contract::SchedulerRequest r;
    if (advance) {
        if (time || speed) {
            return bad_request("advance_seconds 不能与 time 或 speed 同时使用");
        }
        if (*advance < 1 || *advance > 366.0 * 86400 ||
            *advance != static_cast<double>(static_cast<std::int64_t>(*advance))) {
            return bad_request("advance_seconds 必须是 1 到 31622400 之间的整数");
        }
        r.op = contract::RequestOp::ClockAdvance;
        r.advance_seconds = static_cast<std::int64_t>(*advance);
    } else {
        if (!time && !speed) {
            return bad_request("需要 time、speed 或 advance_seconds");
        }
        r.op = contract::RequestOp::ClockSet;
        if (time) {
            r.time = station::parse_datetime(*time);
            if (!r.time) {
                return bad_request("time 必须是 \"YYYY-MM-DD HH:MM:SS\" 格式");
            }
        }
        if (speed && (*speed < 0 || *speed > 1e6)) {
            return bad_request("speed 必须在 0 到 1000000 之间");
        }
        r.speed = speed;
    }
    HttpResponse failure;
    const auto reply = change(*c.at, r, failure);
    if (!reply) {
        return failure;
    }
    refresh_view(*c.at);
    contract::ClockReading clock;
    if (const std::string error = contract::parse_value(reply->data, clock); !error.empty()) {
        // The change is made (the log has it); only its reading cannot be shown.
        if (log_) {
            log_("warn", "the scheduler's clock reply refused: " + error);
        }
        return success("时钟已更新");
    }
    return success("时钟已更新", contract::to_json_value(clock));
}

HttpResponse ApiApp::pile_op(Context& c, contract::RequestOp op, bool with_minutes) {
    BodyFields f(c.body);
    const auto pile = f.text("charge_id", Need::Required, 64);
    const double minutes = with_minutes ? f.number("minutes", Need::Optional).value_or(0.0) : 0.0;
    if (!f.ok()) {
        return bad_request(f.error());
    }
    contract::SchedulerRequest r;
    r.op = op;
    r.pile = *pile;
    if (minutes < 0 || minutes > 525600 ||
        minutes != static_cast<double>(static_cast<int>(minutes))) {
        return bad_request("minutes 必须是 0 到 525600 之间的整数（0 表示直到恢复）");
    }
    r.minutes = static_cast<int>(minutes);
    HttpResponse failure;
    const auto reply = change(*c.at, r, failure);
    if (!reply) {
        return failure;
    }
    refresh_view(*c.at);
    return success(op == contract::RequestOp::Fault ? "已设置故障" : "已恢复");
}

HttpResponse ApiApp::post_fault(Context& c) {
    return pile_op(c, contract::RequestOp::Fault, true);
}
HttpResponse ApiApp::post_recover(Context& c) {
    return pile_op(c, contract::RequestOp::Recover, false);
}

}  // namespace api

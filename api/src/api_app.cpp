#include "api/api_app.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "api/body_fields.hpp"
#include "api/log_follower.hpp"
#include "api/passwords.hpp"
#include "api_internal.hpp"
#include "cli/cli.hpp"
#include "contract/station_state.hpp"

namespace api {

using nlohmann::json;
using namespace detail;

namespace {

enum class Access { Public, Client, Admin };

// §9: POST /client/index/order answers 200 on success and -1 on failure; DELETE
// /client/index/order types `code` as a string. Every other endpoint: 0 on success.
enum class CodeStyle { Plain, CreateOrder, Text };

HttpResponse restyle(HttpResponse r, CodeStyle style) {
    if (style == CodeStyle::Plain) {
        return r;
    }
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j.contains("code") || !j["code"].is_number_integer()) {
        return r;
    }
    const int code = j["code"].get<int>();
    j["code"] = style == CodeStyle::Text ? json(std::to_string(code)) : json(code == 0 ? 200 : -1);
    r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
}

}  // namespace

namespace detail {

HttpResponse envelope(int status, const json& code, const std::string& msg, const json& data,
                      const std::string& error) {
    json j{{"code", code}, {"msg", msg}, {"data", data}};
    if (!error.empty()) {
        j["error"] = error;
    }
    HttpResponse r;
    r.status = status;
    r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
}

std::string refusal_message(const std::string& error) {
    static const std::map<std::string, std::string> kMessages = {
        {"waiting_area_full", "等候区已满，暂时不能提交充电请求"},
        {"car_already_active", "该车辆已有未完成的充电订单"},
        {"unknown_car", "该车辆没有未完成的充电订单"},
        {"not_in_waiting_area", "车辆已进入充电区，不能修改充电请求"},
        {"unknown_pile", "充电桩不存在"},
        {"pile_already_faulty", "充电桩已处于故障状态"},
        {"pile_not_faulty", "充电桩没有故障"},
        {"pile_already_off", "充电桩已经关闭"},
        {"pile_already_on", "充电桩已经开启"},
        {"pile_offline", "充电桩离线，无法重启"},
        {"invalid_amount", "申请充电量必须大于 0"},
        {"invalid_car", "车辆编号无效"},
        {"no_pile_for_mode", "没有该充电模式的充电桩"},
        {"invalid_duration", "故障时长无效"},
        {"order_not_open", "订单已结束"},
        {"not_simulation", "仅在模拟模式下可用"},
        {"clock_backwards", "模拟时钟不能倒退"},
        {"bad_request", "调度服务拒绝了请求"},
        {"journal_failed", "调度服务无法保存该操作，操作未生效，请稍后重试"},
    };
    const auto it = kMessages.find(error);
    return it == kMessages.end() ? "请求被拒绝（" + error + "）" : it->second;
}

double money(double yuan) {
    return contract::cents(yuan);
}

}  // namespace detail

struct ApiApp::Route {
    const char* method;
    const char* path;
    Access access;
    bool body;  // takes a JSON body
    Handler handler;
    CodeStyle style = CodeStyle::Plain;
};

const ApiApp::Route* ApiApp::find_route(const std::string& path, bool& path_known,
                                        const std::string& method) {
    static const Route kRoutes[] = {
        {"POST", "/admin/login", Access::Public, true, &ApiApp::admin_login},
        {"GET", "/admin/index", Access::Public, false, &ApiApp::page},
        {"GET", "/admin/index/manage", Access::Admin, false, &ApiApp::get_manage},
        {"POST", "/admin/index/manage", Access::Admin, true, &ApiApp::post_manage},
        {"GET", "/admin/index/report", Access::Admin, false, &ApiApp::get_report},
        {"GET", "/admin/index/charge", Access::Admin, false, &ApiApp::get_charge},
        {"POST", "/admin/index/charge/reset", Access::Admin, true, &ApiApp::post_reset},
        {"GET", "/admin/sim/clock", Access::Admin, false, &ApiApp::get_clock},
        {"POST", "/admin/sim/clock", Access::Admin, true, &ApiApp::post_clock},
        {"POST", "/admin/sim/fault", Access::Admin, true, &ApiApp::post_fault},
        {"POST", "/admin/sim/recover", Access::Admin, true, &ApiApp::post_recover},
        {"POST", "/client/register", Access::Public, true, &ApiApp::client_register},
        {"POST", "/client/login", Access::Public, true, &ApiApp::client_login},
        {"GET", "/client/index", Access::Public, false, &ApiApp::page},
        {"GET", "/client/index/order", Access::Client, false, &ApiApp::get_orders},
        {"POST", "/client/index/order", Access::Client, true, &ApiApp::post_order,
         CodeStyle::CreateOrder},
        {"PATCH", "/client/index/order", Access::Client, true, &ApiApp::patch_order},
        {"DELETE", "/client/index/order", Access::Client, true, &ApiApp::delete_order,
         CodeStyle::Text},
        {"GET", "/client/index/bill", Access::Client, false, &ApiApp::get_bills},
        {"GET", "/client/index/information", Access::Client, false, &ApiApp::get_information},
        {"POST", "/client/index/information", Access::Client, true, &ApiApp::post_information},
        {"GET", "/client/index/car", Access::Client, false, &ApiApp::get_cars},
        {"POST", "/client/index/car", Access::Client, true, &ApiApp::post_car},
        {"PATCH", "/client/index/car", Access::Client, true, &ApiApp::patch_car},
        {"DELETE", "/client/index/car", Access::Client, true, &ApiApp::delete_car},
        {"POST", "/client/index/recharge", Access::Client, false, &ApiApp::recharge},
        {"POST", "/admin/index/live/ticket", Access::Admin, false, &ApiApp::live_ticket},
        {"GET", "/admin/index/live", Access::Public, false, &ApiApp::live_unstreamed},
        {"POST", "/client/index/live/ticket", Access::Client, false, &ApiApp::live_ticket},
        {"GET", "/client/index/live", Access::Public, false, &ApiApp::live_unstreamed},
    };
    path_known = false;
    for (const Route& r : kRoutes) {
        if (path == r.path) {
            path_known = true;
            if (method == r.method) {
                return &r;
            }
        }
    }
    return nullptr;
}

std::string_view ApiApp::route_label(const std::string& path) {
    bool known = false;
    for (const char* method : {"GET", "POST", "PATCH", "DELETE"}) {
        if (const Route* r = find_route(path, known, method)) {
            return r->path;
        }
        if (!known) {
            break;  // no route has this path
        }
    }
    if (path.rfind("/web/", 0) == 0) {
        return "/web/*";
    }
    return "other";
}

ApiApp::ApiApp(StorePort& store, StationView& view, SchedulerPort& scheduler, TokenService tokens,
               ApiOptions options, LogFn log)
    : ApiApp(store, {ServedStation{view, scheduler}}, std::move(tokens), std::move(options),
             std::move(log)) {}

ApiApp::ApiApp(StorePort& store, const std::vector<ServedStation>& stations, TokenService tokens,
               ApiOptions options, LogFn log)
    : store_(store),
      tokens_(std::move(tokens)),
      options_(std::move(options)),
      log_(std::move(log)),
      logins_(options_.login_limits),
      passwords_(options_.password_threads > 0
                     ? options_.password_threads
                     : static_cast<int>(std::max(1U, std::thread::hardware_concurrency() / 2)),
                 options_.password_waiting),
      unknown_account_hash_(hash_password(random_hex(16), options_.password_iterations)) {
    if (stations.empty()) {
        throw std::invalid_argument("the API needs a station to serve");
    }
    if (!options_.wall_clock_ms) {
        options_.wall_clock_ms = cli::wall_ms;
    }
    for (const ServedStation& s : stations) {
        if (served(s.scheduler.station()) != nullptr) {
            throw std::invalid_argument("station '" + s.scheduler.station() + "' given twice");
        }
        stations_.push_back(std::make_unique<Served>(s.view, s.scheduler));
    }
}

ApiApp::Served* ApiApp::served(std::string_view id) const {
    for (const auto& s : stations_) {
        if (s->id() == id) {
            return s.get();
        }
    }
    return nullptr;
}

bool ApiApp::ensure_admin(const std::string& account, const std::string& password) {
    if (!valid_account(account) || !valid_password(password)) {
        throw std::invalid_argument(
            "the admin account must be an e-mail address and the password 1-32 characters");
    }
    if (store_.admin_by_account(account)) {
        return false;
    }
    return store_.ensure_admin(normalize_account(account),
                               hash_password(password, options_.password_iterations));
}

HttpResponse ApiApp::handle(const HttpRequest& request) {
    bool path_known = false;
    const Route* route = find_route(request.path, path_known, request.method);
    return restyle(dispatch(request, route, path_known), route ? route->style : CodeStyle::Plain);
}

HttpResponse ApiApp::refuse(const HttpRequest& request, int status, const std::string& msg,
                            const std::string& error) {
    bool path_known = false;
    const Route* route = find_route(request.path, path_known, request.method);
    return restyle(http_error(status, msg, error), route ? route->style : CodeStyle::Plain);
}

HttpResponse ApiApp::dispatch(const HttpRequest& request, const Route* route, bool path_known) {
    try {
        if (!route) {
            if (path_known) {
                return http_error(405, "不支持的请求方法 " + request.method, "method_not_allowed");
            }
            if (request.method == "GET" && request.path.rfind("/web/", 0) == 0) {
                Context c{request, {}, std::nullopt, json(), stations_.front().get()};
                return page(c);
            }
            return http_error(404, "接口不存在：" + request.path, "not_found");
        }
        Context c{request, {}, std::nullopt, json(), stations_.front().get()};
        if (route->access != Access::Public) {
            std::string token = request.token;
            if (token.empty() && request.authorization.rfind("Bearer ", 0) == 0) {
                token = request.authorization.substr(7);
            }
            const auto claims = tokens_.verify(token, now_s());
            if (!claims) {
                return http_error(401,
                                  token.empty() ? "未登录：缺少 token" : "登录已失效，请重新登录",
                                  "unauthorized");
            }
            c.claims = *claims;
            const Role needed = route->access == Access::Admin ? Role::Admin : Role::Client;
            if (claims->role != needed) {
                return http_error(403,
                                  needed == Role::Admin ? "需要管理员权限" : "此接口仅供用户使用",
                                  "forbidden");
            }
            if (needed == Role::Client) {
                c.user = store_.user(claims->subject);
                if (!c.user) {
                    return http_error(401, "账户不存在，请重新登录", "unauthorized");
                }
                if (c.user->token_version != claims->version) {
                    return http_error(401, "密码已修改，请重新登录", "unauthorized");
                }
            } else if (!store_.admin(claims->subject)) {
                return http_error(401, "管理员账户不存在，请重新登录", "unauthorized");
            }
        }
        // After the token: who may not ask learns nothing of the stations served.
        if (const auto named = request.query.find("station"); named != request.query.end()) {
            c.at = served(named->second);
            c.named = true;
            if (c.at == nullptr) {
                return http_error(404, "本服务没有参数 station 所指的充电站", "unknown_station");
            }
        }
        if (route->body) {
            auto body = parse_body(request.body);
            if (!body || !body->is_object()) {
                return bad_request("请求体必须是 JSON 对象，且每个字段只出现一次");
            }
            c.body = std::move(*body);
        }
        return (this->*route->handler)(c);
    } catch (const std::exception& e) {
        if (log_) {
            log_("error", std::string("request ") + request.method + " " + request.path +
                              " failed: " + e.what());
        }
        return http_error(500, "服务器内部错误", "internal_error");
    }
}

std::optional<contract::SchedulerReply> ApiApp::ask(Served& at,
                                                    contract::SchedulerRequest request) {
    return at.scheduler.call(std::move(request), options_.scheduler_timeout);
}

std::optional<contract::SchedulerReply> ApiApp::change(Served& at,
                                                       contract::SchedulerRequest request,
                                                       HttpResponse& failure) {
    if (request.id.empty()) {
        request.id = at.scheduler.next_request_id();
    }
    request.expires_ms = now_ms() + options_.scheduler_timeout.count();
    auto reply = at.scheduler.call(request, options_.scheduler_timeout);
    // No answer in time. The request may still reach the scheduler, but it is not carried
    // out after its deadline, which has passed: asking again with the same id now gets the
    // first outcome, or `expired` if there was none.
    for (int i = 0; !reply && i < options_.outcome_retries; ++i) {
        reply = at.scheduler.call(request, options_.outcome_retry_timeout);
    }
    if (!reply) {
        failure = outcome_unknown(request.id);
        return std::nullopt;
    }
    if (!reply->ok) {
        failure = reply->error == "expired" ? scheduler_unavailable()
                                            : refusal(refusal_message(reply->error), reply->error);
        return std::nullopt;
    }
    return reply;
}

HttpResponse ApiApp::outcome_unknown(const std::string& request_id) {
    if (log_) {
        log_("warn", "request " + request_id + ": no answer, its outcome is unknown");
    }
    return http_error(504, "调度服务未及时答复，操作结果暂时未知；结果确定后会出现在订单中",
                      "outcome_unknown");
}

std::optional<contract::SchedulerReply> ApiApp::outcome(
    Context& c, contract::SchedulerRequest request, HttpResponse& failure,
    const std::function<std::optional<HttpResponse>()>& checks) {
    if (!c.request.idempotency_key.empty()) {
        // A retry under a key: if the scheduler took the first attempt, its answer is the
        // outcome, whatever the first attempt changed since (the checks below would now
        // refuse it). Asked with a deadline in the past, so a request it never took is not
        // taken by this question.
        contract::SchedulerRequest question = request;
        question.expires_ms = 0;
        auto first = c.at->scheduler.call(question, options_.scheduler_timeout);
        if (!first) {
            // Not known whether the first attempt was taken: the checks below could refuse
            // a request that was carried out (its order now makes the car active).
            failure = outcome_unknown(request.id);
            return std::nullopt;
        }
        if (!(first->error == "expired" && first->expires_ms == std::int64_t{0})) {
            if (!first->ok) {
                failure = refusal(refusal_message(first->error), first->error);
                return std::nullopt;
            }
            return first;
        }
    }
    if (auto refused = checks()) {
        failure = std::move(*refused);
        return std::nullopt;
    }
    return change(*c.at, std::move(request), failure);
}

std::optional<OrderRecord> ApiApp::applied_order(Served& at, const contract::SchedulerReply& reply,
                                                 std::int64_t user_id,
                                                 std::optional<std::int64_t> id) {
    if (!reply.order || reply.run.empty()) {
        return std::nullopt;
    }
    auto row = order_record(at.id(), reply.run, *reply.order);
    if (!row) {
        return std::nullopt;
    }
    if (!at.scheduler.wait_applied(reply.run, reply.pos, options_.applied_timeout)) {
        // The log has not brought it yet (the API is busy or catching up): the order as the
        // scheduler answered is stored now, so that the reads after the answer show it; the
        // log's own copy (the same state or a later one) follows, and settling is once per
        // order whichever comes first.
        store_.record_order(*row);
    }
    // The answer shows the order as the change left it, which the reply carries: no need to
    // read the row back, only a new order's API id.
    if (!id) {
        id = store_.order_id_by_key(row->station, row->station_key);
        if (!id) {
            return std::nullopt;
        }
    }
    row->id = *id;
    row->user_id = user_id;
    return row;
}

HttpResponse ApiApp::once_per_key(Context& c,
                                  HttpResponse (ApiApp::*handler)(Context&, const std::string&)) {
    const std::string& key = c.request.idempotency_key;
    if (key.empty()) {
        return (this->*handler)(c, c.at->scheduler.next_request_id());
    }
    if (key.size() > 64 ||
        key.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") !=
            std::string::npos) {
        return bad_request("Idempotency-Key 必须是 1 到 64 个字母、数字或 _ . : -");
    }
    // A new order's station is part of what was asked (a key reused at another station is
    // another request); a change or cancel is about its order, wherever it is named.
    const bool placed = c.request.method == "POST" && !c.at->id().empty();
    const std::string request = c.request.method + " " + c.request.path +
                                (placed ? "@" + c.at->id() : "") + " " + c.request.body;
    // Reserved before anything is asked, so that while the first use's outcome is not
    // final the key cannot be used for another request (at another station, say).
    const StoredAnswer kept = store_.reserve_answer(c.user->id, key, request, now_ms());
    if (kept.request != request) {
        return http_error(422, "该 Idempotency-Key 已用于另一个请求", "idempotency_key_reused");
    }
    if (kept.status != 0) {
        HttpResponse r;
        r.status = kept.status;
        r.body = kept.body;
        return r;
    }
    // FNV-1a of the key and the request: the scheduler's id of this user's request under
    // this key. The request is in it because the scheduler remembers an id's answer for
    // longer than the store keeps the key: a key used again after its day for another
    // request must not be answered with the first one's outcome.
    std::uint64_t h = 14695981039346656037ULL;
    for (const std::string* part : {&key, &request}) {
        for (const char ch : *part) {
            h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
        }
        h = (h ^ 0xffU) * 1099511628211ULL;  // ends the part: ("ab","c") is not ("a","bc")
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    HttpResponse r = (this->*handler)(c, "ik" + std::to_string(c.user->id) + "-" + hex);
    // Only an answer that is final is kept: after 5xx (not carried out, or not known yet)
    // the key stays reserved and the client's retry asks again, under the same scheduler id.
    if (r.status < 500) {
        store_.keep_answer(c.user->id, key, StoredAnswer{request, r.status, r.body}, now_ms());
    }
    return r;
}

std::shared_ptr<const StationSnapshot> ApiApp::current_view(Served& at) {
    auto snap = at.view.snapshot();
    const LogPosition applied = store_.log_position(at.id());
    if (applied.run.empty() || (snap->run() == applied.run && snap->state.head >= applied.pos)) {
        return snap;
    }
    refresh_view(at);  // the published state is older than what the store has applied
    return at.view.snapshot();
}

void ApiApp::refresh_view(Served& at) {
    // Single flight: concurrent callers share one state request, as long as it was sent
    // after their change (so it includes it). `target` is the first request to start from
    // now on; whoever finds none in flight sends the next one.
    std::unique_lock lock(at.refresh_mutex);
    const std::int64_t target = at.refresh_started + 1;
    while (at.refresh_done < target) {
        if (at.refresh_in_flight) {
            at.refresh_finished.wait(lock);
            continue;
        }
        at.refresh_in_flight = true;
        const std::int64_t mine = ++at.refresh_started;
        lock.unlock();
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::State;
        if (const auto reply = ask(at, r); reply && reply->ok) {
            at.view.offer(reply->data);
        }
        lock.lock();
        at.refresh_in_flight = false;
        // A failed request still ends the wait: the reader sees the retained state later.
        at.refresh_done = mine;
        at.refresh_finished.notify_all();
    }
}

// ---- accounts ------------------------------------------------------------------------

std::optional<HttpResponse> ApiApp::locked_out(const std::string& account, const Context& c) {
    if (const auto wait = logins_.wait_s(account, c.request.peer, now_s()); wait > 0) {
        return refusal("登录失败次数过多，请 " + std::to_string(wait) + " 秒后再试",
                       "too_many_attempts");
    }
    return std::nullopt;
}

std::optional<bool> ApiApp::password_matches(const std::string& password,
                                             const std::optional<std::string>& stored,
                                             HttpResponse& busy) {
    const auto ok = passwords_.verify(password, stored.value_or(unknown_account_hash_));
    if (!ok) {
        busy = http_error(503, "登录请求过多，请稍后再试", "busy");
        return std::nullopt;
    }
    return *ok && stored.has_value();
}

HttpResponse ApiApp::admin_login(Context& c) {
    BodyFields f(c.body);
    const auto account = f.text("account", Need::Required, 254);
    const auto password = f.text("password", Need::Required, 32);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    const std::string key = "admin:" + normalize_account(*account);
    if (auto locked = locked_out(key, c)) {
        return *locked;
    }
    const auto admin = store_.admin_by_account(*account);
    HttpResponse busy;
    const auto ok = password_matches(
        *password, admin ? std::optional(admin->password_hash) : std::nullopt, busy);
    if (!ok) {
        return busy;
    }
    if (!*ok) {
        logins_.failed(key, c.request.peer, now_s());
        return envelope(200, 1, "账号或密码错误", json{{"token", ""}, {"account", ""}},
                        "wrong_credentials");
    }
    logins_.succeeded(key, c.request.peer);
    return success("登录成功", json{{"token", tokens_.issue(admin->id, Role::Admin, now_s())},
                                    {"account", admin->account}});
}

HttpResponse ApiApp::client_register(Context& c) {
    BodyFields f(c.body);
    const auto account = f.text("account", Need::Required, 254);
    const auto password = f.text("password", Need::Required, 32);
    const auto name = f.text("name", Need::Required, 32);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    if (!valid_account(*account)) {
        return bad_request("账户名必须是邮箱地址");
    }
    if (!valid_password(*password)) {
        return bad_request("密码必须是 1 到 32 个字符");
    }
    const auto hash = passwords_.hash(*password, options_.password_iterations);
    if (!hash) {
        return http_error(503, "注册请求过多，请稍后再试", "busy");
    }
    const auto id = store_.create_user(normalize_account(*account), *name, *hash);
    if (!id) {
        return envelope(200, 1, "该账户已被注册", json{{"token", ""}}, "account_taken");
    }
    return success("注册成功", json{{"token", tokens_.issue(*id, Role::Client, now_s(), 0)}});
}

HttpResponse ApiApp::client_login(Context& c) {
    BodyFields f(c.body);
    const auto account = f.text("account", Need::Required, 254);
    const auto password = f.text("password", Need::Required, 32);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    const std::string key = "client:" + normalize_account(*account);
    if (auto locked = locked_out(key, c)) {
        return *locked;
    }
    const auto user = store_.user_by_account(*account);
    HttpResponse busy;
    const auto ok =
        password_matches(*password, user ? std::optional(user->password_hash) : std::nullopt, busy);
    if (!ok) {
        return busy;
    }
    if (!*ok) {
        logins_.failed(key, c.request.peer, now_s());
        return envelope(200, 1, "账号或密码错误", json{{"token", nullptr}}, "wrong_credentials");
    }
    logins_.succeeded(key, c.request.peer);
    return success(
        "登录成功",
        json{{"token", tokens_.issue(user->id, Role::Client, now_s(), user->token_version)}});
}

HttpResponse ApiApp::get_information(Context& c) {
    return success("查询成功",
                   json{{"id", std::to_string(c.user->id)},
                        {"account", c.user->account},
                        {"name", c.user->name},
                        {"car_array", cars_json(c.user->id)},
                        {"balance", static_cast<double>(c.user->balance_cents) / 100.0}});
}

HttpResponse ApiApp::post_information(Context& c) {
    BodyFields f(c.body);
    const auto name = f.text("name", Need::Optional, 32);
    const auto old_password = f.text("old_password", Need::Optional, 32);
    const auto new_password = f.text("new_password", Need::Optional, 32);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    if (!name && !new_password) {
        return bad_request("没有要修改的内容（name 或 new_password）");
    }
    std::optional<std::string> hash;
    if (new_password) {
        if (!valid_password(*new_password)) {
            return bad_request("新密码必须是 1 到 32 个字符");
        }
        HttpResponse busy;
        const auto ok =
            password_matches(old_password.value_or(""), std::optional(c.user->password_hash), busy);
        if (!ok) {
            return busy;
        }
        if (!old_password || !*ok) {
            return refusal("原密码错误", "wrong_credentials");
        }
        hash = passwords_.hash(*new_password, options_.password_iterations);
        if (!hash) {
            return http_error(503, "请求过多，请稍后再试", "busy");
        }
    }
    store_.update_user(c.user->id, name, hash);
    if (!hash) {
        return success("修改成功");
    }
    // Other sessions end with the old password; this one goes on with a new token.
    const auto user = store_.user(c.user->id);
    return success(
        "修改成功，其他设备需要重新登录",
        json{{"token", tokens_.issue(user->id, Role::Client, now_s(), user->token_version)}});
}

HttpResponse ApiApp::recharge(Context& c) {
    std::string text;
    if (const auto it = c.request.query.find("amount"); it != c.request.query.end()) {
        text = it->second;
    } else {
        const auto body = parse_body(c.request.body);
        if (!c.request.body.empty() && (!body || !body->is_object())) {
            return bad_request("请求体必须是 JSON 对象，且每个字段只出现一次");
        }
        if (body && body->contains("amount")) {
            const json& a = (*body)["amount"];
            text = a.is_string() ? a.get<std::string>() : a.is_number() ? a.dump() : "";
        }
    }
    // Yuan with at most two decimals: 1-9 digits, optionally "." and 1-2 digits.
    const auto dot = text.find('.');
    const std::string whole = text.substr(0, dot);
    const std::string frac = dot == std::string::npos ? "" : text.substr(dot + 1);
    const bool shape =
        !whole.empty() && whole.size() <= 9 &&
        whole.find_first_not_of("0123456789") == std::string::npos &&
        (dot == std::string::npos || (!frac.empty() && frac.size() <= 2 &&
                                      frac.find_first_not_of("0123456789") == std::string::npos));
    if (!shape) {
        return bad_request("充值金额 amount 必须是正数，最多两位小数");
    }
    std::int64_t cents = std::stoll(whole) * 100;
    if (!frac.empty()) {
        cents += std::stoll(frac) * (frac.size() == 1 ? 10 : 1);
    }
    constexpr std::int64_t kMaxCents = 100000000;  // 1,000,000 yuan at once
    if (cents <= 0 || cents > kMaxCents) {
        return bad_request("充值金额必须大于 0 且不超过 1000000 元");
    }
    const auto balance = store_.add_balance(c.user->id, cents);
    return success("充值成功", json{{"balance", static_cast<double>(balance) / 100.0}});
}

// ---- pages -----------------------------------------------------------------------------

HttpResponse ApiApp::page(Context& c) {
    std::string rel;
    const std::string& path = c.request.path;
    if (path == "/admin/index") {
        rel = "admin/index.html";
    } else if (path == "/client/index") {
        rel = "client/index.html";
    } else {
        rel = path.substr(5);  // under /web/
        if (rel.empty() || rel.find("..") != std::string::npos ||
            rel.find("//") != std::string::npos ||
            rel.find_first_not_of(
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") !=
                std::string::npos) {
            return http_error(404, "文件不存在", "not_found");
        }
    }
    const std::string file = options_.web_root + "/" + rel;
    std::error_code error;
    if (options_.web_root.empty() || !std::filesystem::is_regular_file(file, error)) {
        return http_error(404, "文件不存在", "not_found");  // also a folder: not an empty 200
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        return http_error(404, "文件不存在", "not_found");
    }
    std::ostringstream text;
    text << in.rdbuf();
    HttpResponse r;
    r.body = text.str();
    const auto ext = rel.substr(rel.find_last_of('.') + 1);
    r.content_type = ext == "html"  ? "text/html; charset=utf-8"
                     : ext == "css" ? "text/css; charset=utf-8"
                     : ext == "js"  ? "text/javascript; charset=utf-8"
                     : ext == "svg" ? "image/svg+xml"
                                    : "application/octet-stream";
    return r;
}

}  // namespace api

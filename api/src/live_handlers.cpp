// The live streams' side of the API: tickets, who a stream is for, and what it shows
// (docs/openapi.yaml GET /admin/index/live and GET /client/index/live; docs/decisions.md
// "Web console"). The streaming itself is the HTTP server's (api/live_hub.hpp).
#include <limits>

#include "api/api_app.hpp"
#include "api_internal.hpp"
#include "cli/cli.hpp"
#include "station/time.hpp"

namespace api {

using nlohmann::json;
using namespace detail;

namespace {

/// A client stream shows this many closed orders, newest first.
constexpr std::size_t kLiveHistory = 20;

}  // namespace

bool ApiApp::is_live_path(const std::string& path) {
    return path == "/admin/index/live" || path == "/client/index/live";
}

HttpResponse ApiApp::live_ticket(Context& c) {
    // An admin's stream shows one station, the one named here; a client's shows their
    // orders at every station.
    const std::string ticket =
        tickets_.issue(c.claims, now_s(), c.claims.role == Role::Admin ? c.at->id() : "");
    return success("查询成功", json{{"ticket", ticket}, {"expires_in", tickets_.lifetime_s()}});
}

HttpResponse ApiApp::live_unstreamed(Context&) {
    return bad_request("此接口是事件流（text/event-stream），需要由服务器以流的方式连接");
}

std::variant<LiveGrant, HttpResponse> ApiApp::open_live(const HttpRequest& request) {
    if (request.method != "GET") {
        return http_error(405, "不支持的请求方法 " + request.method, "method_not_allowed");
    }
    const std::string ticket = query_param(request, "ticket");
    if (ticket.empty()) {
        return http_error(401, "未登录：缺少 ticket（先用 token 换取）", "unauthorized");
    }
    const auto redeemed = tickets_.redeem(ticket, now_s());
    if (!redeemed) {
        return http_error(401, "ticket 无效或已过期，请重新获取", "unauthorized");
    }
    const Role needed = request.path == "/admin/index/live" ? Role::Admin : Role::Client;
    const TokenClaims& claims = redeemed->claims;
    if (claims.role != needed) {
        return http_error(403, needed == Role::Admin ? "需要管理员权限" : "此接口仅供用户使用",
                          "forbidden");
    }
    const LiveGrant grant{claims.role, claims.subject, claims.expires_s, claims.version,
                          redeemed->station};
    if (!live_state(grant)) {
        return http_error(401, "登录已失效，请重新登录", "unauthorized");
    }
    return grant;
}

std::optional<std::string> ApiApp::live_state(const LiveGrant& grant) {
    if (grant.role == Role::Admin) {
        if (!store_.admin(grant.subject)) {
            return std::nullopt;
        }
        Served* at = served(grant.station);
        if (at == nullptr) {
            return std::nullopt;
        }
        return manage_body(*at);
    }
    const auto user = store_.user(grant.subject);
    if (!user || user->token_version != grant.version) {
        return std::nullopt;
    }
    const auto snap = current_view(*stations_.front());
    json current = orders_json(user->id, true, nullptr, std::numeric_limits<std::size_t>::max());
    json history = orders_json(user->id, false, nullptr, kLiveHistory);
    return success("查询成功",
                   json{{"time", snap->known ? station::format_datetime(snap->state.at_ms) : ""},
                        {"current", std::move(current)},
                        {"history", std::move(history)},
                        {"car_array", cars_json(user->id)},
                        {"balance", static_cast<double>(user->balance_cents) / 100.0}})
        .body;
}

std::string ApiApp::live_version() {
    std::string version =
        std::to_string(store_.cars_version()) + "/" + std::to_string(store_.bills_version());
    for (const auto& at : stations_) {
        const auto snap = at->view.snapshot();
        const LogPosition pos = store_.log_position(at->id());
        version += "/" + std::to_string(reinterpret_cast<std::uintptr_t>(snap.get())) + "/" +
                   snap->run() + "/" + std::to_string(snap->state.at_ms) + "/" +
                   std::to_string(snap->state.revision) + "/" + pos.run + "/" +
                   std::to_string(pos.pos);
    }
    return version;
}

HttpResponse ApiApp::too_many_streams() {
    return http_error(429, "实时连接过多，请关闭其他页面后重试", "too_many_streams");
}

}  // namespace api

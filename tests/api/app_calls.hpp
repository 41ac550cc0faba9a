#pragma once
// What the in-process tests of ApiApp share: a request answered by the app with its HTTP
// status, and a row of a station's log as the store keeps it.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "api/api_app.hpp"
#include "api/store.hpp"

namespace apicall {

/// The app's answer to a request with `token` (and an Idempotency-Key when `key` is not
/// empty): its envelope with "http" (the status) added.
inline nlohmann::json ask(api::ApiApp& app, const std::string& method, const std::string& path,
                          const std::string& token, const std::map<std::string, std::string>& query,
                          const nlohmann::json& body, const std::string& key = "") {
    api::HttpRequest r;
    r.method = method;
    r.path = path;
    r.query = query;
    r.token = token;
    r.peer = "127.0.0.1";
    r.idempotency_key = key;
    if (!body.is_null()) {
        r.body = body.dump();
    }
    const api::HttpResponse answer = app.handle(r);
    nlohmann::json j = nlohmann::json::parse(answer.body);
    j["http"] = answer.status;
    return j;
}

/// A slow-mode order of `station`'s log for `car`, in `state`, last changed at `pos`.
inline api::OrderRecord order_row(const std::string& station, const std::string& key,
                                  std::int64_t car, const std::string& state, std::int64_t pos) {
    api::OrderRecord o;
    o.station = station;
    o.station_key = key;
    o.car_id = car;
    o.mode = "T";
    o.number = 1;
    o.number_text = "T1";
    o.state = state;
    o.apply_kwh = 10;
    o.log_pos = pos;
    return o;
}

}  // namespace apicall

// Fuzz target: a request to the REST API as it arrives on the wire — the head as POCO's
// HTTPRequest reads it (the HTTP front checks its form first, then hands it to POCO; the
// front's own checks, members of its connection loop, are not reached here), the target's
// path and query string (Poco::URI, as api/src/http_server.cpp takes them apart), the
// token, Authorization and Idempotency-Key headers, and the body — answered by ApiApp
// over a real SQLite store, with a scheduler stand-in. A token or Authorization value "@client" /
// "@admin" is replaced by a valid token of the fuzz user / admin (a fuzzer cannot forge the
// signature). A header "x-scheduler: CODE" makes the stand-in refuse changes with that code
// ("silent": no answer at all); otherwise it accepts them. An input that starts with '{' is instead
// a JSON body read with every BodyFields getter. Properties: nothing crashes; every answer is the
// JSON envelope {code, msg, data} (or a page), with a status the API document knows, never 500;
// what BodyFields accepts is within its bounds.
#include <Poco/Net/HTTPRequest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "api/api_app.hpp"
#include "api/body_fields.hpp"
#include "api/http_server.hpp"
#include "api/passwords.hpp"
#include "api/scheduler_link.hpp"
#include "api/station_view.hpp"
#include "api/store.hpp"
#include "api/tokens.hpp"
#include "cli/cli.hpp"
#include "contract/station_state.hpp"
#include "fuzz_support.hpp"
#include "station/profile.hpp"
#include "station/station.hpp"

namespace {

using nlohmann::json;

const std::string kSecret(32, 's');

// The scheduler, as far as the API can tell: answers at once, as `mode` says.
class StandIn final : public api::SchedulerPort {
  public:
    std::string mode;  // "" accepts, "silent" never answers, anything else refuses with it

    std::optional<contract::SchedulerReply> call(contract::SchedulerRequest request,
                                                 std::chrono::milliseconds) override {
        if (mode == "silent") {
            return std::nullopt;
        }
        const bool change = contract::changes_station(request.op);
        if (change) {
            // A repeated id gets the first answer; an unknown one asked after its deadline
            // (an Idempotency-Key retry's question) is `expired`, as the scheduler answers.
            if (const auto it = answers_.find(request.id); it != answers_.end()) {
                return it->second;
            }
            if (request.expires_ms == std::int64_t{0}) {
                contract::SchedulerReply r;
                r.id = request.id;
                r.error = "expired";
                r.expires_ms = 0;
                return r;
            }
        }
        contract::SchedulerReply r = answer(request);
        if (change) {
            answers_[request.id] = r;
        }
        return r;
    }
    // Never applied from a log (there is none): the API stores the answered order itself.
    bool wait_applied(const std::string&, std::int64_t, std::chrono::milliseconds) override {
        return false;
    }
    std::string next_request_id() override { return "fz" + std::to_string(++ids_); }
    const std::string& station() const override { return station_; }

  private:
    const std::string station_;
    contract::SchedulerReply answer(const contract::SchedulerRequest& request) {
        contract::SchedulerReply r;
        r.id = request.id;
        if (!mode.empty() && contract::changes_station(request.op)) {
            r.error = mode;
            r.reason = "refused by the stand-in";
            return r;
        }
        r.ok = true;
        switch (request.op) {
            case contract::RequestOp::State: {
                const station::Station st(*station::builtin_profile("bupt-2023"), 0);
                contract::StationState s = contract::station_state(st, ++revision_);
                s.run = "fuzz";
                s.head = pos_;
                r.data = contract::to_json_value(s);
                break;
            }
            case contract::RequestOp::ClockGet:
                r.data = {{"at_ms", 0}, {"speed", 1.0}, {"simulated", true}};
                break;
            case contract::RequestOp::Submit:
            case contract::RequestOp::Change:
            case contract::RequestOp::Cancel: {
                contract::OrderUpdate o;
                o.order = request.order.value_or(++orders_);
                o.car = request.car;
                o.mode = request.mode.value_or(station::Mode::Fast);
                o.number = std::string(1, station::mode_letter(o.mode)) + "1";
                o.status = request.op == contract::RequestOp::Cancel
                               ? contract::OrderStatus::Cancelled
                               : contract::OrderStatus::Waiting;
                if (request.op == contract::RequestOp::Cancel) {
                    o.closed_ms = 0;
                }
                o.requested_kwh = request.kwh.value_or(10);
                o.pos = ++pos_;
                r.run = "fuzz";
                r.pos = pos_;
                r.order = o;
                break;
            }
            default:
                r.run = "fuzz";
                r.pos = pos_;
                break;
        }
        return r;
    }

    std::map<std::string, contract::SchedulerReply> answers_;
    std::int64_t revision_ = 0;
    std::int64_t pos_ = 0;
    std::int64_t orders_ = 0;
    std::int64_t ids_ = 0;
};

// One API over one database for the whole run (state builds up, as in a live server).
struct Api {
    std::filesystem::path db = std::filesystem::temp_directory_path() /
                               ("station-api-fuzz-" + std::to_string(::getpid()) + ".db");
    std::unique_ptr<api::Store> store;
    api::StationView view;
    StandIn scheduler;
    api::TokenService tokens{kSecret, 365LL * 86400};
    std::unique_ptr<api::ApiApp> app;
    std::string client_token;
    std::string admin_token;

    Api() {
        remove_files();
        store = std::make_unique<api::Store>(db.string(), 1);
        api::ApiOptions options;
        options.password_iterations = 1;
        options.outcome_retries = 1;
        app = std::make_unique<api::ApiApp>(*store, view, scheduler, tokens, options,
                                            [](std::string_view, std::string_view) {});
        app->ensure_admin("admin@station.local", "admin-pass");
        const auto user =
            store->create_user("fuzz@example.com", "模糊", api::hash_password("secret-1", 1));
        const std::int64_t now_s = cli::wall_ms() / 1000;
        client_token = tokens.issue(*user, api::Role::Client, now_s);
        admin_token = tokens.issue(store->admin_by_account("admin@station.local")->id,
                                   api::Role::Admin, now_s);
    }
    ~Api() {
        app.reset();
        store.reset();
        remove_files();
    }
    void remove_files() const {
        for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
            std::error_code ignored;
            std::filesystem::remove(db.string() + suffix, ignored);
        }
    }
    std::string token(const std::string& value) const {
        if (value == "@client") {
            return client_token;
        }
        if (value == "@admin") {
            return admin_token;
        }
        if (value == "Bearer @client") {
            return "Bearer " + client_token;
        }
        if (value == "Bearer @admin") {
            return "Bearer " + admin_token;
        }
        return value;
    }
};

void check_answer(const api::HttpResponse& r) {
    static const std::set<int> kStatuses = {200, 204, 400, 401, 403, 404,
                                            405, 413, 422, 500, 503, 504};
    fuzz::check(kStatuses.count(r.status) == 1, "an answer with an unexpected status",
                std::to_string(r.status) + " " + r.body);
    if (r.content_type.rfind("application/json", 0) != 0) {
        return;  // a page
    }
    const json j = json::parse(r.body, nullptr, false);
    fuzz::check(j.is_object() && j.contains("code") && j.contains("msg") && j.contains("data"),
                "an answer that is not the envelope", r.body);
    fuzz::check(r.status != 500, "an internal error", r.body);
}

void body_fields(std::string_view text) {
    const json body = json::parse(text, nullptr, false);
    if (!body.is_object()) {
        return;
    }
    api::BodyFields f(body);
    for (const char* key : {"a", "name", "account", "password", "car_id", "apply_kwh", "ids"}) {
        for (const auto need : {api::Need::Required, api::Need::Optional}) {
            if (const auto s = f.text(key, need, 8)) {
                const auto n = api::utf8_length(*s);
                fuzz::check(n && *n >= 1 && *n <= 8, "text() gave a text out of bounds", *s);
            }
            if (const auto d = f.number(key, need)) {
                fuzz::check(std::isfinite(*d), "number() gave a number that is not finite");
            }
            if (const auto id = f.id(key, need)) {
                fuzz::check(*id >= 0, "id() gave a negative id");
            }
            if (const auto v = f.texts(key, need, 4)) {
                fuzz::check(v->size() <= 4, "texts() gave too many texts");
            }
        }
    }
    if (body.contains("s") && body["s"].is_string()) {
        const std::string s = body["s"].get<std::string>();
        if (const auto n = api::utf8_length(s)) {
            fuzz::check(*n <= s.size(), "more code points than bytes", s);
        }
        fuzz::check(api::valid_password(s) == (api::utf8_length(s) && *api::utf8_length(s) >= 1 &&
                                               *api::utf8_length(s) <= 32),
                    "valid_password disagrees with its rule", s);
        api::valid_account(s);
        if (const auto id = api::parse_id(s)) {
            fuzz::check(*id >= 0 && std::to_string(*id).size() <= s.size(),
                        "parse_id gave an id its text does not hold", s);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input = fuzz::text(data, size);
    if (!input.empty() && input[0] == '{') {
        body_fields(input);
        return 0;
    }
    static Api api;

    // The head, as the front reads it; the rest is the body.
    const auto end = input.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        return 0;
    }
    std::istringstream head_stream(std::string(input.substr(0, end + 4)));
    Poco::Net::HTTPRequest head;
    try {
        head.read(head_stream);
    } catch (const std::exception&) {
        return 0;  // the front answers 400 itself
    }
    // The stand-ins become real tokens, then the request goes the server's way.
    for (const char* field : {"token", "Authorization"}) {
        if (head.has(field)) {
            head.set(field, api.token(head.get(field)));
        }
    }
    api.scheduler.mode = head.get("x-scheduler", "");
    check_answer(api::answer_request(*api.app, head, std::string(input.substr(end + 4)), ""));
    return 0;
}

#pragma once
/// @file The REST API (docs/openapi.yaml; the rules in docs/station-rules.md §9): routing,
/// authentication, validation and the answers, independent of the HTTP server. Changes to
/// orders and piles go to the scheduler; reads come from storage and the read model.
/// docs/openapi.yaml documents every endpoint as served. Thread-safe: the server calls
/// `handle` from many threads at once.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/http_types.hpp"
#include "api/live_hub.hpp"
#include "api/live_tickets.hpp"
#include "api/login_guard.hpp"
#include "api/password_work.hpp"
#include "api/scheduler_port.hpp"
#include "api/station_view.hpp"
#include "api/store_port.hpp"
#include "api/tokens.hpp"

namespace api {

struct ApiOptions {
    /// PBKDF2 iterations for new password hashes (tests lower it to run fast).
    int password_iterations = 600000;
    /// How long the API waits for the scheduler's answer (a change carries this as its
    /// deadline: arriving later, it is not carried out).
    std::chrono::milliseconds scheduler_timeout{5000};
    /// When a change's answer did not come in time, how often the API asks again with
    /// the same id (after the deadline, so the answer is final) before it answers that the
    /// outcome is unknown, and how long it waits each time.
    int outcome_retries = 2;
    std::chrono::milliseconds outcome_retry_timeout{1000};
    /// How long a change's answer waits for the store to apply the change from the log.
    std::chrono::milliseconds applied_timeout{2000};
    /// Folder with the two home pages (admin/index.html, client/index.html) and assets.
    std::string web_root;
    /// Largest charging request accepted, kWh (beyond any car's battery).
    double max_capacity_kwh = 1000;
    /// Password hashing threads (0: half the cores, at least 1) and how many logins,
    /// registrations or password changes may wait for them before one is answered 503.
    int password_threads = 0;
    std::size_t password_waiting = 16;
    /// Failed logins allowed per account and address, and per address (docs/security.md).
    LoginLimits login_limits;
    /// The wall clock (UTC milliseconds since the epoch) that times tokens, tickets, login
    /// lock-outs, idempotency keys, the scheduler's deadlines and car claims. In-process
    /// tests of the use cases set one of their own; empty: the system's.
    std::function<std::int64_t()> wall_clock_ms;
};

/// One station the API serves: its read model and its scheduler, whose station() is the
/// station's id ("" for the one station on its own topics).
struct ServedStation {
    StationView& view;
    SchedulerPort& scheduler;
};

class ApiApp {
  public:
    /// Serves one station.
    ApiApp(StorePort& store, StationView& view, SchedulerPort& scheduler, TokenService tokens,
           ApiOptions options, LogFn log);
    /// Serves several stations on one store (at least one, ids distinct): a request names
    /// one with the query parameter `station`, else it is about the first one; a request
    /// about an order is about the order's station. Throws std::invalid_argument for an
    /// empty list or a repeated id.
    ApiApp(StorePort& store, const std::vector<ServedStation>& stations, TokenService tokens,
           ApiOptions options, LogFn log);

    HttpResponse handle(const HttpRequest& request);
    /// The answer for a request the server refuses before reading it whole (e.g. a body
    /// over the limit): the envelope with `status` as its code, in the route's own code
    /// style (-1 on POST /client/index/order, a string on DELETE).
    HttpResponse refuse(const HttpRequest& request, int status, const std::string& msg,
                        const std::string& error);

    /// The route template of `path`, for metrics: a route's own path, "/web/*" for the web
    /// assets, else "other" (never the raw path: its values are bounded). Static storage.
    static std::string_view route_label(const std::string& path);

    /// Creates the first admin if that account does not exist yet; true if created.
    bool ensure_admin(const std::string& account, const std::string& password);

    // ---- live streams (api/live_hub.hpp; docs/openapi.yaml GET /admin/index/live) ----
    /// Whether `path` is a live stream's (GET /admin/index/live, GET /client/index/live).
    static bool is_live_path(const std::string& path);
    /// For a request to a live path: who its `ticket` parameter lets in (the ticket is used
    /// up), or the answer to give instead: 405 for another method than GET, 401 for a
    /// missing, unknown, used or expired ticket, 403 for a ticket of the other role.
    std::variant<LiveGrant, HttpResponse> open_live(const HttpRequest& request);
    /// What a stream of `grant` shows now, as one line of JSON (the envelope): for an admin
    /// the GET /admin/index/manage answer, for a client their orders, cars and balance;
    /// nullopt when the grant no longer holds (account gone, password changed).
    std::optional<std::string> live_state(const LiveGrant& grant);
    /// A text that changes whenever a live state may have changed (cheap, no I/O).
    std::string live_version();
    /// The answer when a stream cap is reached: 429 `too_many_streams`.
    HttpResponse too_many_streams();

  private:
    struct Context;  // one request being answered
    /// A station served, with what the API keeps for it.
    struct Served {
        Served(StationView& v, SchedulerPort& s) : view(v), scheduler(s) {}
        StationView& view;
        SchedulerPort& scheduler;
        const std::string& id() const { return scheduler.station(); }
        // The rendered GET /admin/index/manage answer, rebuilt only when its inputs change.
        std::mutex manage_mutex;
        std::shared_ptr<const StationSnapshot> manage_snapshot;
        std::int64_t manage_cars_version = -1;
        std::int64_t manage_bills_version = -1;
        std::shared_ptr<const std::string> manage_body;
        // refresh_view's single flight.
        std::mutex refresh_mutex;
        std::condition_variable refresh_finished;
        bool refresh_in_flight = false;
        std::int64_t refresh_started = 0;
        std::int64_t refresh_done = 0;
    };
    /// The station served here with this id; nullptr if it is not one of them.
    Served* served(std::string_view id) const;
    using Handler = HttpResponse (ApiApp::*)(Context&);
    struct Route;
    static const Route* find_route(const std::string& path, bool& path_known,
                                   const std::string& method);
    HttpResponse dispatch(const HttpRequest& request, const Route* route, bool path_known);

    // accounts
    HttpResponse admin_login(Context& c);
    HttpResponse client_register(Context& c);
    HttpResponse client_login(Context& c);
    HttpResponse get_information(Context& c);
    HttpResponse post_information(Context& c);
    HttpResponse recharge(Context& c);
    // cars
    HttpResponse get_cars(Context& c);
    HttpResponse post_car(Context& c);
    HttpResponse patch_car(Context& c);
    HttpResponse delete_car(Context& c);
    // orders
    HttpResponse get_orders(Context& c);
    HttpResponse post_order(Context& c);
    HttpResponse patch_order(Context& c);
    HttpResponse delete_order(Context& c);
    HttpResponse get_bills(Context& c);
    // administration
    HttpResponse get_manage(Context& c);
    HttpResponse post_manage(Context& c);
    HttpResponse get_charge(Context& c);
    HttpResponse get_report(Context& c);
    HttpResponse get_clock(Context& c);
    HttpResponse post_clock(Context& c);
    HttpResponse post_fault(Context& c);
    HttpResponse post_recover(Context& c);
    /// POST /admin/index/charge/reset {charge_id, type Soft|Hard}: restarts the pile's
    /// charger (the scheduler sends it a `reset` command).
    HttpResponse post_reset(Context& c);
    // pages
    HttpResponse page(Context& c);
    // live streams: a ticket for the stream; the stream itself outside a streaming server
    HttpResponse live_ticket(Context& c);
    HttpResponse live_unstreamed(Context& c);

    /// Asks the station's scheduler; nullopt if it did not answer.
    std::optional<contract::SchedulerReply> ask(Served& at, contract::SchedulerRequest request);
    /// Asks the scheduler for a change: its reply when it was applied; otherwise nullopt,
    /// with `failure` the answer to give: its refusal, 503 when it is known not to have
    /// been carried out, 504 `outcome_unknown` when that cannot be known yet.
    std::optional<contract::SchedulerReply> change(Served& at, contract::SchedulerRequest request,
                                                   HttpResponse& failure);
    /// 504 `outcome_unknown` (logged): the request may or may not have been carried out.
    HttpResponse outcome_unknown(const std::string& request_id);
    /// The outcome of a client's change: for a retry under an Idempotency-Key the first
    /// attempt's answer if the scheduler has one (504 if it cannot be asked); otherwise
    /// `checks` (a refusal, or nullopt to go on) and then `change`. nullopt with `failure`
    /// set when not done.
    std::optional<contract::SchedulerReply> outcome(
        Context& c, contract::SchedulerRequest request, HttpResponse& failure,
        const std::function<std::optional<HttpResponse>()>& checks);
    /// Runs a client's change once per Idempotency-Key: a repeat of the key is answered
    /// as the first time (a different request under the same key is refused); the
    /// scheduler request's id is derived from the key, so a retry after an unknown outcome
    /// cannot act twice either.
    HttpResponse once_per_key(Context& c,
                              HttpResponse (ApiApp::*handler)(Context&, const std::string&));
    HttpResponse create_order(Context& c, const std::string& request_id);
    /// Claims the car for a new order at `at` (api/car_claims.hpp), settling a claim of
    /// another station past its deadline by asking that station's state; nullopt when
    /// claimed, else the answer: `car_already_active` when the car is in an open order
    /// there, 409 `car_claimed` while that is not known.
    std::optional<HttpResponse> claim_car(Served& at, std::int64_t car_id);
    HttpResponse change_order(Context& c, const std::string& request_id);
    HttpResponse cancel_order(Context& c, const std::string& request_id);
    /// The order a change's reply names, as the change left it, once stored (the log has
    /// brought it, or it is stored from the reply), so that the client's next read shows it;
    /// `id` is its API id if known (else looked up). Nullopt if the reply names no order.
    std::optional<OrderRecord> applied_order(Served& at, const contract::SchedulerReply& reply,
                                             std::int64_t user_id,
                                             std::optional<std::int64_t> id = std::nullopt);
    /// The order a change's reply names: as stored once applied, else as answered.
    OrderRecord answered_order(Served& at, const contract::SchedulerReply& reply,
                               const OrderRecord& before);
    /// After a change: takes the scheduler's state at once, so the next read sees it.
    /// Concurrent callers share one request sent after their change.
    void refresh_view(Served& at);
    /// The station as the scheduler last published it, but never older than the changes
    /// the store has applied (a read after a write sees the write): a published state
    /// behind the store's log position is refreshed first.
    std::shared_ptr<const StationSnapshot> current_view(Served& at);
    /// The user's order if it is of a station served here (`c.at` becomes its station).
    std::optional<OrderRecord> own_order(Context& c, std::int64_t order_id);
    /// The car's open order, at whatever station (a car charges at one at a time), unless
    /// it belongs to an earlier run of a served station's scheduler: such an order can no
    /// longer be served and must not keep its car from charging again.
    std::optional<OrderRecord> open_order(std::int64_t car_id);
    /// The user's orders (open or closed) at the stations served here, newest first, as
    /// shown; only `only`'s when it is not null; at most `limit`.
    nlohmann::json orders_json(std::int64_t user_id, bool open, const Served* only,
                               std::size_t limit);
    HttpResponse pile_op(Context& c, contract::RequestOp op, bool with_minutes);
    /// The refusal for an account locked after failed logins, if it is.
    std::optional<HttpResponse> locked_out(const std::string& account, const Context& c);
    /// Checks a login's password with the same work whether the account exists or not;
    /// nullopt (and `busy` set) when the hashing threads are saturated.
    std::optional<bool> password_matches(const std::string& password,
                                         const std::optional<std::string>& stored,
                                         HttpResponse& busy);
    nlohmann::json order_json(const OrderRecord& o, const StationSnapshot& snap) const;
    /// The user's cars, a charging car with what it has received so far.
    nlohmann::json cars_json(std::int64_t user_id);
    std::string manage_body(Served& at);
    std::int64_t now_ms() const { return options_.wall_clock_ms(); }
    std::int64_t now_s() const { return now_ms() / 1000; }

    StorePort& store_;
    std::vector<std::unique_ptr<Served>> stations_;  // the first: a request's by default
    TokenService tokens_;
    ApiOptions options_;
    LogFn log_;
    LoginGuard logins_;
    LiveTickets tickets_;
    PasswordWork passwords_;
    // Verified against when the account does not exist, so that an unknown account takes
    // the same work (and time) as a wrong password.
    std::string unknown_account_hash_;
};

}  // namespace api

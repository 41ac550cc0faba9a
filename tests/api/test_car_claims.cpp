// One open order per car across stations (issue #12, api/car_claims.hpp): the rules that
// settle a claim, the store's claim rows, and the API refusing a car whose request at
// another station may still be carried out, or made an open order the centre has not seen.
#include <catch2/catch.hpp>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "api/api_app.hpp"
#include "api/car_claims.hpp"
#include "api/store.hpp"
#include "app_calls.hpp"
#include "databases.hpp"
#include "harness.hpp"

using api::CarClaim;
using api::ClaimFate;
using api::ClaimStanding;
using apicall::ask;
using nlohmann::json;

namespace {

contract::SchedulerReply taken(std::int64_t order) {
    contract::SchedulerReply r;
    r.ok = true;
    r.run = "run-1";
    r.pos = order + 1;
    r.order = contract::OrderUpdate{.order = order,
                                    .car = "1",
                                    .number = "T1",
                                    .mode = station::Mode::Slow,
                                    .requested_kwh = 5,
                                    .pile = "",
                                    .dispatched_ms = std::nullopt,
                                    .started_ms = std::nullopt,
                                    .closed_ms = std::nullopt,
                                    .pos = r.pos};
    return r;
}

contract::SchedulerReply refused(const std::string& error) {
    contract::SchedulerReply r;
    r.error = error;
    return r;
}

// A station's scheduler as the API sees it: it takes every order asked, answers a request
// again under its id as the real one does (a question past every deadline about an id it
// does not know is `expired`), and answers `state` when asked; `reachable` false: nothing
// is answered (its bridge is cut).
class StationStandIn final : public api::SchedulerPort {
  public:
    explicit StationStandIn(std::string station) : station_(std::move(station)) {}
    std::optional<contract::SchedulerReply> call(contract::SchedulerRequest request,
                                                 std::chrono::milliseconds) override {
        if (request.op != contract::RequestOp::State) {
            asked.push_back(request.id);
        }
        if (!reachable) {
            return std::nullopt;
        }
        if (request.op == contract::RequestOp::State) {
            contract::SchedulerReply r;
            r.ok = true;
            r.data = contract::to_json_value(state);
            return r;
        }
        if (const auto it = known.find(request.id); it != known.end()) {
            return it->second;
        }
        if (request.expires_ms == std::int64_t{0}) {
            contract::SchedulerReply expired = refused("expired");
            expired.expires_ms = 0;
            return expired;
        }
        return known[request.id] = taken(next_order_++);
    }
    bool wait_applied(const std::string&, std::int64_t, std::chrono::milliseconds) override {
        return false;
    }
    std::string next_request_id() override { return station_ + "-r" + std::to_string(++next_); }
    const std::string& station() const override { return station_; }

    bool reachable = true;
    contract::StationState state;
    std::map<std::string, contract::SchedulerReply> known;  ///< by request id
    std::vector<std::string> asked;                         ///< request ids, but state's

  private:
    const std::string station_;
    int next_ = 0;
    std::int64_t next_order_ = 0;
};

api::ApiOptions quick() {
    api::ApiOptions o;
    o.password_iterations = 1000;
    o.scheduler_timeout = std::chrono::milliseconds(50);
    o.outcome_retries = 0;
    o.applied_timeout = std::chrono::milliseconds(0);
    return o;
}

// Two stations served by one API on one store, and a user with a car.
struct TwoStations {
    explicit TwoStations(const std::string& db_name)
        : store(harness::test_database(harness::temp_dir(), db_name)) {}
    api::Store store;
    std::int64_t user = *store.create_user("g@b.cn", "G", "hash");
    std::int64_t car = store.add_car(user, "car", 60, 10);
    api::StationView v1;
    api::StationView v2;
    StationStandIn s1{"S1"};
    StationStandIn s2{"S2"};
    api::ApiApp app{store,
                    {api::ServedStation{v1, s1}, api::ServedStation{v2, s2}},
                    api::TokenService(std::string(32, 'k'), 3600),
                    quick(),
                    nullptr};
    std::string token = api::TokenService(std::string(32, 'k'), 3600)
                            .issue(user, api::Role::Client, std::time(nullptr));
    /// POST /client/index/order for `car` at `station`.
    json post(const std::string& station, std::int64_t car_id, const std::string& key = "") {
        return ask(app, "POST", "/client/index/order", token, {{"station", station}},
                   json{{"car_id", std::to_string(car_id)}, {"mode", "T"}, {"apply_kwh", 5}}, key);
    }
};

}  // namespace

contract::StateCar car_in_state(std::int64_t car) {
    contract::StateCar c;
    c.car = std::to_string(car);
    c.number = "T1";
    c.mode = station::Mode::Slow;
    c.requested_kwh = 5;
    return c;
}

TEST_CASE("car claims: a claim is ours, in flight, or settled by its station's state",
          "[api][claims]") {
    const CarClaim held{7, "S1", 10'000};
    // The same station goes on, whenever: its scheduler holds the car to one order.
    CHECK(api::claim_standing(held, CarClaim{7, "S1", 0}, 99'000) == ClaimStanding::Ours);
    // Another waits out the deadline and the clocks' margin.
    const CarClaim other{7, "S2", 0};
    CHECK(api::claim_standing(held, other, 10'000) == ClaimStanding::InFlight);
    CHECK(api::claim_standing(held, other, 10'000 + api::kClaimClockMarginMs) ==
          ClaimStanding::InFlight);
    CHECK(api::claim_standing(held, other, 10'001 + api::kClaimClockMarginMs) ==
          ClaimStanding::Settle);

    CHECK(api::claim_fate(std::nullopt, 7) == ClaimFate::Unknown);
    contract::StationState there;
    there.waiting.push_back(car_in_state(8));
    CHECK(api::claim_fate(there, 7) == ClaimFate::Free);
    for (int where = 0; where < 3; ++where) {
        INFO(where);
        contract::StationState busy = there;
        if (where == 0) {
            busy.waiting.push_back(car_in_state(7));
        } else if (where == 1) {
            busy.redispatch.push_back(car_in_state(7));
        } else {
            busy.piles.emplace_back().queue.push_back(car_in_state(7));
        }
        CHECK(api::claim_fate(busy, 7) == ClaimFate::Busy);
    }
}

TEST_CASE("car claims: the store holds one claim per car, renewed by its own station only",
          "[api][claims]") {
    api::Store store(harness::test_database(harness::temp_dir(), "claims.db"));
    const auto user = *store.create_user("c@b.cn", "C", "hash");
    const auto car = store.add_car(user, "car", 60, 10);

    CHECK(store.claim_car(CarClaim{car, "S1", 1000}).expires_ms == 1000);
    // Renewed by its own station to the later deadline, never an earlier one.
    CHECK(store.claim_car(CarClaim{car, "S1", 5000}).expires_ms == 5000);
    CHECK(store.claim_car(CarClaim{car, "S1", 3000}).expires_ms == 5000);
    // Another station finds it held, unchanged.
    const CarClaim held = store.claim_car(CarClaim{car, "S2", 9000});
    CHECK(held.station == "S1");
    CHECK(held.expires_ms == 5000);
    // Taken over only from the claim as it was settled.
    const CarClaim mine{car, "S2", 9000};
    CHECK_FALSE(store.take_over_claim(CarClaim{car, "S1", 1000}, mine));
    CHECK(store.take_over_claim(held, mine));
    CHECK_FALSE(store.take_over_claim(held, CarClaim{car, "S3", 1}));
    CHECK(store.claim_car(CarClaim{car, "S3", 1}).station == "S2");
}

TEST_CASE("car claims: a car asked of one station is not taken by another until known free",
          "[api][claims][stations]") {
    TwoStations t("claims-app.db");
    api::Store& store = t.store;
    StationStandIn& s1 = t.s1;
    StationStandIn& s2 = t.s2;
    const std::int64_t car = t.car;
    const auto post = [&](const std::string& station) { return t.post(station, car); };

    SECTION("asked of a station cut off, the car is not taken by another meanwhile") {
        s1.reachable = false;
        CHECK(post("S1")["http"] == 504);
        const json elsewhere = post("S2");
        CHECK(elsewhere["http"] == 409);
        CHECK(elsewhere["error"] == "car_claimed");
        CHECK(s2.asked.empty());
    }

    SECTION("asked again of its own station, it goes there: that scheduler arbitrates") {
        s1.reachable = false;
        CHECK(post("S1")["http"] == 504);
        CHECK(post("S1")["http"] == 504);
        CHECK(s1.asked.size() == 2);
    }

    // S1 holds the car, past the deadline of every request made under the claim: its state
    // decides.
    store.claim_car(CarClaim{car, "S1", 0});

    SECTION("S1 has the car in an open order the centre has not seen: the car is active") {
        contract::StatePile pile;
        pile.id = "T1";
        pile.name = "慢充1";
        pile.mode = station::Mode::Slow;
        pile.power_kw = 7;
        pile.queue.push_back(car_in_state(car));
        pile.queue.back().status = contract::OrderStatus::Charging;
        s1.state.piles.push_back(pile);
        const json r = post("S2");
        CHECK(r["error"] == "car_already_active");
        CHECK(s2.asked.empty());
        CHECK(store.claim_car(CarClaim{car, "S2", 0}).station == "S1");
    }
    SECTION("S1 has the car in no open order: the claim is taken over and S2 asked") {
        s1.state.waiting.push_back(car_in_state(car + 1));
        CHECK(post("S2")["code"] == 200);  // this route's success (§9)
        CHECK(s1.asked.empty());
        CHECK(s2.asked.size() == 1);
        CHECK(store.claim_car(CarClaim{car, "S1", 0}).station == "S2");
    }
    SECTION("S1 cannot be asked: not known, not now") {
        s1.reachable = false;
        CHECK(post("S2")["error"] == "car_claimed");
        CHECK(s2.asked.empty());
    }
}

TEST_CASE("car claims: an Idempotency-Key without a final answer is not used at another station",
          "[api][claims][stations]") {
    TwoStations t("claims-key.db");
    StationStandIn& s1 = t.s1;
    StationStandIn& s2 = t.s2;
    const std::int64_t car = t.car;
    const auto other = t.store.add_car(t.user, "other", 60, 10);
    const auto post = [&](const std::string& station, std::int64_t which) {
        return t.post(station, which, "key-1");
    };

    s1.reachable = false;
    CHECK(post("S1", car)["http"] == 504);
    // Another car, another station, the same key: another request, refused at once.
    for (const auto& [station, which] : {std::pair{"S2", car}, std::pair{"S2", other}}) {
        CHECK(post(station, which)["error"] == "idempotency_key_reused");
    }
    CHECK(s2.asked.empty());
    // The same request again, S1 back: the real outcome, then kept.
    s1.reachable = true;
    const json done = post("S1", car);
    CHECK(done["code"] == 200);
    CHECK(s1.asked.size() == 3);  // the first try, the retry's question, the retry
    CHECK(post("S1", car)["data"]["id"] == done["data"]["id"]);
    CHECK(s1.asked.size() == 3);
}

TEST_CASE(
    "car claims: one station alone on its own database claims nothing; on a shared "
    "database it claims",
    "[api][claims][stations]") {
    const std::string db = harness::test_database(harness::temp_dir(), "one.db");
    api::Store store(db);
    const std::int64_t user = *store.create_user("h@b.cn", "H", "hash");
    const std::int64_t car = store.add_car(user, "car", 60, 10);
    api::StationView view;
    StationStandIn s1{"S1"};
    api::ApiApp app{store,   view,   s1, api::TokenService(std::string(32, 'k'), 3600),
                    quick(), nullptr};
    const std::string token = api::TokenService(std::string(32, 'k'), 3600)
                                  .issue(user, api::Role::Client, std::time(nullptr));
    const json answer =
        ask(app, "POST", "/client/index/order", token, {},
            json{{"car_id", std::to_string(car)}, {"mode", "T"}, {"apply_kwh", 5}}, "");
    CHECK(answer["code"] == 200);
    CHECK(s1.asked.size() == 1);
    // On PostgreSQL another instance may serve another station on the same rows.
    CHECK(harness::sql_value(db, "SELECT COUNT(*) FROM car_claims") ==
          (harness::on_postgresql() ? 1 : 0));
}

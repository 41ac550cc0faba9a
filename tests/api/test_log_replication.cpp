// The scheduler's change log followed into the API's store, without a broker: a
// SchedulerApp in this process, its publications delivered (or lost, repeated, reordered)
// by the test, the real SQLite store applying them. Regressions of issue #8's crash
// reproductions, deterministic, no sleeps.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "../unit/support.hpp"
#include "api/log_follower.hpp"
#include "api/store.hpp"
#include "contract/station_state.hpp"
#include "contract/topics.hpp"
#include "harness.hpp"
#include "service/scheduler_app.hpp"

using namespace api;
using nlohmann::json;

namespace {

constexpr std::int64_t kWall = 1'000'000;
const station::TimeMs kStart = test::at(6, 0, 0, 20000);

service::SchedulerOptions options(std::vector<std::string>* journal) {
    service::SchedulerOptions o;
    o.clock.simulated = true;
    o.clock.start = kStart;
    o.clock.speed = 0;
    o.run = "run-1";
    o.journal = [journal](const std::string& line) { journal->push_back(line); };
    return o;
}

// A scheduler process: its app and the journal it keeps (which outlives a crash).
struct Scheduler {
    std::vector<std::string>& journal;
    std::unique_ptr<service::SchedulerApp> app;
    std::int64_t wall = kWall;
    int n = 0;

    explicit Scheduler(std::vector<std::string>& j) : journal(j) { start(); }
    void start() {
        auto o = options(&journal);
        o.resume = journal;
        app = std::make_unique<service::SchedulerApp>(test::profile(1, 2, 30, 10, 5, 2), o, wall,
                                                      nullptr);
        app->on_connected(wall);
        for (const char* pile : {"F1", "T1", "T2"}) {
            contract::PileStatus s{
                pile, true, station::PileState::Rest,       station::Mode::Fast, 10,
                "",   0,    {"b" + std::to_string(wall), 1}};
            app->on_message(contract::pile_topic(pile, contract::PileChannel::Status),
                            contract::to_json(s), wall);
        }
    }
    /// The process dies: whatever it had not published is gone; the journal stays.
    void crash() {
        app->take_publications();
        app.reset();
    }
    /// Sends a request; returns the reply and appends the other publications to `out`.
    contract::SchedulerReply request(contract::SchedulerRequest r,
                                     std::vector<contract::Publication>& out) {
        if (r.id.empty()) {
            r.id = "r" + std::to_string(++n);
        }
        r.reply_to = contract::replies_topic("api");
        app->on_message(contract::scheduler_requests_topic(), contract::to_json(r), wall);
        contract::SchedulerReply reply;
        for (auto& p : app->take_publications()) {
            if (p.topic == r.reply_to) {
                REQUIRE(contract::parse(p.payload, reply).empty());
            } else {
                out.push_back(std::move(p));
            }
        }
        return reply;
    }
};

contract::SchedulerRequest submit(const std::string& car, station::Mode mode, double kwh) {
    contract::SchedulerRequest r;
    r.op = contract::RequestOp::Submit;
    r.car = car;
    r.mode = mode;
    r.kwh = kwh;
    return r;
}
contract::SchedulerRequest op(contract::RequestOp o, const std::string& car = "") {
    contract::SchedulerRequest r;
    r.op = o;
    r.car = car;
    return r;
}
contract::SchedulerRequest advance(std::int64_t seconds) {
    contract::SchedulerRequest r;
    r.op = contract::RequestOp::ClockAdvance;
    r.advance_seconds = seconds;
    return r;
}

// The API's side: a store with users and cars, fed batches as they arrive.
struct Replica {
    std::string path = harness::test_database(harness::temp_dir());
    std::unique_ptr<Store> store = std::make_unique<Store>(path);
    std::int64_t user = *store->create_user("a@b.cn", "A", "hash");
    std::vector<std::string> cars;  // API car ids, as the scheduler knows them

    explicit Replica(int n_cars = 4) {
        for (int i = 0; i < n_cars; ++i) {
            cars.push_back(std::to_string(store->add_car(user, "car", 200, 0)));
        }
    }
    /// Delivers the change batches among `pubs`; true if one showed a gap.
    bool deliver(const std::vector<contract::Publication>& pubs) {
        std::vector<contract::ChangeBatch> batches;
        for (const auto& p : pubs) {
            if (p.topic == contract::station_changes_topic()) {
                contract::ChangeBatch b;
                REQUIRE(contract::parse(p.payload, b).empty());
                batches.push_back(std::move(b));
            }
        }
        return apply_batches(*store, "", batches).gap;
    }
    /// Asks the scheduler for what follows the stored position until nothing does.
    void catch_up(Scheduler& s, std::int64_t limit = 0) {
        for (;;) {
            contract::SchedulerRequest r = op(contract::RequestOp::Changes);
            r.run = store->log_position("").run;
            r.after = store->log_position("").pos;
            r.limit = limit;
            std::vector<contract::Publication> ignored;
            const auto reply = s.request(r, ignored);
            REQUIRE(reply.ok);
            REQUIRE(reply.changes);
            const Applied a = apply_batches(*store, "", {*reply.changes});
            REQUIRE_FALSE(a.gap);
            if (!reply.changes->more) {
                return;
            }
        }
    }
};

std::int64_t cents(double yuan) {
    return std::llround(contract::cents(yuan) * 100);
}

// The store holds exactly the scheduler's orders and bills, and the balance is minus the
// sum of the closed orders' fees.
void check_same(const service::SchedulerApp& app, Replica& r) {
    const auto& st = app.station();
    CHECK(r.store->log_position("").run == app.run());
    CHECK(r.store->log_position("").pos == app.log_position());
    std::int64_t fees = 0;
    for (const station::Order& o : st.orders()) {
        const std::string key = app.run() + "/" + std::to_string(o.id);
        INFO("order " << key);
        const auto id = r.store->order_id_by_key("", key);
        REQUIRE(id);
        const auto row = r.store->order(*id);
        const auto u = contract::order_update(st, o.id, 0);
        CHECK(row->state == std::string(contract::to_string(u.status)));
        CHECK(row->pile == u.pile);
        if (!o.active()) {  // a charging order's progress is the live view's, not the log's
            CHECK(api::yuan(row->charge_fee_cents) == Approx(u.charge_fee));
            CHECK(api::yuan(row->service_fee_cents) == Approx(u.service_fee));
            CHECK(row->charge_kwh == Approx(u.charged_kwh));
        }
        const auto bills = r.store->bills_of_order("", key);
        std::size_t n = 0;
        double bill_fees = 0;
        for (auto b = o.first_bill; b != station::kNone; b = st.bill(b).next_of_order) {
            ++n;
            bill_fees += st.bill(b).total_fee();
        }
        CHECK(bills.size() == n);
        double stored_fees = 0;
        for (const auto& b : bills) {
            stored_fees += api::yuan(b.charge_fee_cents + b.service_fee_cents);
        }
        CHECK(stored_fees == Approx(bill_fees));
        if (!o.active()) {
            fees += cents(u.charge_fee + u.service_fee);
        }
    }
    CHECK(r.store->user(r.user)->balance_cents == -fees);
}

}  // namespace

TEST_CASE(
    "log: a change journaled just before the scheduler dies reaches the store after its restart",
    "[api][log]") {
    // Reproduction 1 of issue #8: the last command's publications were discarded on resume,
    // leaving the order CHARGING in the API for ever.
    std::vector<std::string> journal;
    Scheduler s(journal);
    Replica r;
    std::vector<contract::Publication> pubs;
    const auto created = s.request(submit(r.cars[0], station::Mode::Fast, 20), pubs);
    REQUIRE(created.ok);
    s.request(advance(600), pubs);
    REQUIRE_FALSE(r.deliver(pubs));
    check_same(*s.app, r);

    SECTION("a cancel") {
        std::vector<contract::Publication> lost;
        contract::SchedulerRequest cancel = op(contract::RequestOp::Cancel, r.cars[0]);
        REQUIRE(s.request(cancel, lost).ok);  // journaled, applied: the reply is lost too
    }
    SECTION("a clock advance that finishes the order") {
        std::vector<contract::Publication> lost;
        REQUIRE(s.request(advance(7200), lost).ok);
    }
    s.crash();
    s.start();  // replays the journal; the state it publishes names the position
    const auto state = s.app->take_publications();
    CHECK(r.store->log_position("").pos < s.app->log_position());
    r.deliver(state);
    r.catch_up(s);
    check_same(*s.app, r);
    const auto row = r.store->order(*r.store->order_id_by_key("", "run-1/0"));
    CHECK(row->closed());
    CHECK(r.store->user(r.user)->balance_cents < 0);
    // The car can charge again.
    std::vector<contract::Publication> more;
    CHECK(s.request(submit(r.cars[0], station::Mode::Slow, 5), more).ok);
}

TEST_CASE("log: what time brought and was published comes back after a crash", "[api][log]") {
    // A running clock finishes an order in tick(), with no command: the time is journaled
    // before the change is published, so a restart cannot take back what a reader saw.
    std::vector<std::string> journal;
    auto o = options(&journal);
    o.clock.speed = 3600;  // an hour a second
    auto app = std::make_unique<service::SchedulerApp>(test::profile(1, 2, 30, 10, 5, 2), o, kWall,
                                                       nullptr);
    app->on_connected(kWall);
    contract::PileStatus f1{"F1", true,    station::PileState::Rest, station::Mode::Fast, 30, "",
                            0,    {"b", 1}};
    app->on_message(contract::pile_topic("F1", contract::PileChannel::Status),
                    contract::to_json(f1), kWall);
    contract::SchedulerRequest r = submit("1", station::Mode::Fast, 15);
    r.id = "x";
    r.reply_to = contract::replies_topic("api");
    app->on_message(contract::scheduler_requests_topic(), contract::to_json(r), kWall);
    app->tick(kWall + 1000);  // half an hour of station time: done
    REQUIRE_FALSE(app->station().order(0).active());
    const auto head = app->log_position();
    app.reset();  // crash right after the batch went out

    o.resume = journal;
    service::SchedulerApp again(test::profile(1, 2, 30, 10, 5, 2), o, kWall + 1000, nullptr);
    CHECK_FALSE(again.station().order(0).active());
    CHECK(again.log_position() == head);
}

TEST_CASE("log: lost, repeated and late batches leave the store exact after catching up",
          "[api][log]") {
    // Reproduction 3 of issue #8: updates were fire-and-forget; one lost was lost for good.
    std::vector<std::string> journal;
    Scheduler s(journal);
    Replica r(6);
    std::mt19937 rng(GENERATE(1u, 2u, 3u, 4u, 5u));
    std::vector<contract::Publication> delivered;
    for (int step = 0; step < 60; ++step) {
        std::vector<contract::Publication> pubs;
        const std::string& car = r.cars[rng() % r.cars.size()];
        switch (rng() % 5) {
            case 0:
            case 1:
                s.request(submit(car, rng() % 2 ? station::Mode::Fast : station::Mode::Slow,
                                 1 + static_cast<double>(rng() % 30)),
                          pubs);
                break;
            case 2: {
                auto c = op(contract::RequestOp::Change, car);
                c.kwh = 1 + static_cast<double>(rng() % 20);
                s.request(c, pubs);
                break;
            }
            case 3:
                s.request(op(contract::RequestOp::Cancel, car), pubs);
                break;
            default:
                s.request(advance(60 * (1 + static_cast<std::int64_t>(rng() % 90))), pubs);
        }
        // The bus: a batch is lost, repeated or delivered late now and then.
        for (auto& p : pubs) {
            const auto fate = rng() % 10;
            if (fate == 0) {
                continue;  // lost
            }
            delivered.push_back(p);
            if (fate == 1) {
                delivered.push_back(p);  // repeated
            }
        }
        if (rng() % 4 == 0) {
            std::shuffle(delivered.begin(), delivered.end(), rng);  // late
            if (r.deliver(delivered)) {
                r.catch_up(s);
            }
            delivered.clear();
        }
    }
    r.deliver(delivered);
    s.request(advance(24 * 3600), delivered);  // drain: every order ends
    r.catch_up(s);
    check_same(*s.app, r);
    // Emptied order and bill tables are rebuilt identically from the log, and nobody is
    // charged twice.
    const auto balance = r.store->user(r.user)->balance_cents;
    r.store.reset();
    // The tables of the projection, emptied as an operator would.
    for (const char* table : {"bills", "orders", "pile_totals", "log_position"}) {
        harness::sql_value(r.path, std::string("DELETE FROM ") + table);
    }
    r.store = std::make_unique<Store>(r.path);
    CHECK(r.store->log_position("").pos == 0);
    r.catch_up(s, 7);  // in pages of 7
    check_same(*s.app, r);
    CHECK(r.store->user(r.user)->balance_cents == balance);
}

TEST_CASE("log: a repeated request is answered with its first outcome, also after a restart",
          "[api][log]") {
    std::vector<std::string> journal;
    Scheduler s(journal);
    std::vector<contract::Publication> pubs;
    auto req = submit("7", station::Mode::Fast, 10);
    req.id = "once";
    const auto first = s.request(req, pubs);
    REQUIRE(first.ok);
    CHECK(s.request(req, pubs).pos == first.pos);
    s.crash();
    s.start();
    const auto again = s.request(req, pubs);
    CHECK(again.ok);
    CHECK(again.pos == first.pos);
    REQUIRE(again.order);
    CHECK(again.order->order == first.order->order);
    CHECK(s.app->station().orders().size() == 1);  // not submitted twice
}

TEST_CASE("log: a change arriving after its deadline is not carried out", "[api][log]") {
    std::vector<std::string> journal;
    Scheduler s(journal);
    std::vector<contract::Publication> pubs;
    auto req = submit("7", station::Mode::Fast, 10);
    req.expires_ms = s.wall - 1;
    const auto late = s.request(req, pubs);
    CHECK_FALSE(late.ok);
    CHECK(late.error == "expired");
    CHECK(s.app->station().orders().empty());
    req.expires_ms = s.wall + 5000;
    req.id = "fresh";
    CHECK(s.request(req, pubs).ok);
}

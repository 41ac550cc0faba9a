// Property test: seeded random scenarios over every profile and policy combination
// never break the station's invariants (issue #2, "Must show").
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "support.hpp"

using station::Mode;
using station::OrderId;
using station::Place;
using station::Station;

namespace {

// Returns the first broken invariant, or "".
std::string check_invariants(const Station& st) {
    std::ostringstream why;
    const auto& prof = st.profile();
    std::map<OrderId, int> seen;
    for (std::size_t p = 0; p < st.pile_count(); ++p) {
        const auto pi = static_cast<station::PileIndex>(p);
        const auto q = st.pile_queue(pi);
        if (q.size() > static_cast<std::size_t>(prof.queue_length)) {
            return "queue longer than M at " + prof.piles[p].id;
        }
        const auto state = st.pile_state(pi);
        if ((state == station::PileState::Fault || state == station::PileState::Off) &&
            !q.empty()) {
            return "a pile that is down holds cars: " + prof.piles[p].id;
        }
        for (std::size_t i = 0; i < q.size(); ++i) {
            const auto& o = st.order(q[i]);
            ++seen[q[i]];
            if (o.place != Place::Pile || o.pile != pi || o.mode != prof.piles[p].mode) {
                return "order at a pile has the wrong place, pile or mode";
            }
            const auto want =
                i == 0 ? station::OrderState::Charging : station::OrderState::Dispatched;
            if (o.state != want) {
                return "head must be charging and the rest dispatched at " + prof.piles[p].id;
            }
        }
        station::PileTotals sum;
        for (const auto& b : st.bills()) {
            if (b.pile == pi) {
                sum.add(b);
            }
        }
        const auto& t = st.pile_totals(pi);
        if (sum.charges != t.charges || std::fabs(sum.kwh - t.kwh) > 1e-6 ||
            std::fabs(sum.total_fee() - t.total_fee()) > 1e-6) {
            return "pile totals differ from the sum of its bills";
        }
    }
    const auto waiting = st.waiting_area();
    if (waiting.size() > static_cast<std::size_t>(prof.waiting_area) ||
        static_cast<int>(waiting.size()) != st.waiting_count()) {
        return "waiting area holds more than N";
    }
    for (OrderId id : waiting) {
        ++seen[id];
        if (st.order(id).place != Place::WaitingArea ||
            st.order(id).state != station::OrderState::Waiting) {
            return "waiting order has the wrong place or state";
        }
    }
    for (Mode m : {Mode::Fast, Mode::Slow}) {
        for (OrderId id : st.redispatch_group(m)) {
            ++seen[id];
            if (st.order(id).place != Place::Redispatch || st.order(id).mode != m) {
                return "group order has the wrong place or mode";
            }
        }
    }
    std::set<std::string_view> active_cars;
    for (const auto& o : st.orders()) {
        const int places = seen.count(o.id) ? seen[o.id] : 0;
        if (o.active() != (places == 1) || places > 1) {
            why << "order " << o.id << " is in " << places << " places while "
                << station::to_string(o.state);
            return why.str();
        }
        if (o.active() && !active_cars.insert(st.car_name(o)).second) {
            return "a car has two active orders";
        }
        if (o.delivered_kwh > o.requested_kwh + 1e-9 ||
            st.progress(o.id).kwh > o.requested_kwh + 1e-9) {
            return "delivered more than requested";
        }
        double kwh = 0;
        double charge = 0;
        double service = 0;
        for (auto b = o.first_bill; b != station::kNone; b = st.bill(b).next_of_order) {
            kwh += st.bill(b).kwh;
            charge += st.bill(b).charge_fee;
            service += st.bill(b).service_fee;
            if (st.bill(b).order != o.id || st.bill(b).stop <= st.bill(b).start) {
                return "bill chain broken or zero-length bill";
            }
        }
        if (std::fabs(charge - o.charge_fee) > 1e-6 || std::fabs(service - o.service_fee) > 1e-6 ||
            (o.state != station::OrderState::Finished && std::fabs(kwh - o.delivered_kwh) > 1e-6)) {
            return "order money differs from the sum of its sessions";
        }
    }
    return "";
}

station::Profile random_profile(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> pick(0, 3);
    const int which = pick(rng);
    if (which < 3) {
        return *station::builtin_profile(
            station::builtin_profile_names()[static_cast<std::size_t>(which)]);
    }
    std::uniform_int_distribution<int> count(1, 3);
    std::uniform_int_distribution<int> power(3, 60);
    station::Profile p = test::profile(count(rng), count(rng), 0, 0, count(rng) * 2, count(rng));
    for (auto& pile : p.piles) {
        pile.power = power(rng);
    }
    return p;
}

}  // namespace

TEST_CASE("property: random scenarios keep every invariant", "[property]") {
    constexpr int kScenarios = 3000;
    std::mt19937_64 rng(20261125);
    std::uniform_int_distribution<int> car_pick(0, 11);
    std::uniform_int_distribution<int> action(0, 99);
    std::uniform_int_distribution<int> minutes(0, 40);
    std::uniform_real_distribution<double> amount(0.5, 80.0);
    std::uniform_int_distribution<int> coin(0, 1);
    long long commands = 0;
    long long accepted_orders = 0;
    for (int n = 0; n < kScenarios; ++n) {
        station::Profile prof = random_profile(rng);
        prof.policy.candidates = coin(rng) ? station::Candidates::Best : station::Candidates::Free;
        prof.policy.fault_strategy =
            coin(rng) ? station::FaultStrategy::Priority : station::FaultStrategy::TimeOrder;
        prof.policy.fault_pause = coin(rng) ? station::FaultPause::All : station::FaultPause::Mode;
        std::uniform_int_distribution<std::size_t> pile_pick(0, prof.piles.size() - 1);
        // Start late in the day now and then so runs cross midnight (numbers restart).
        station::TimeMs t = coin(rng) ? test::at(6, 0) : test::at(22, 30);
        Station st(prof, t);
        std::map<std::tuple<std::int64_t, int, std::uint32_t>, std::int64_t> numbers;
        std::set<std::int64_t> issued;
        const int events = 20 + n % 80;
        for (int e = 0; e < events; ++e) {
            t += minutes(rng) * station::kMsPerMinute;
            st.advance_to(t);
            const std::string car = "V" + std::to_string(car_pick(rng));
            const std::string& pile = prof.piles[pile_pick(rng)].id;
            const Mode mode = coin(rng) ? Mode::Fast : Mode::Slow;
            const int a = action(rng);
            station::Outcome out;
            if (a < 45) {
                out = st.submit(car, mode, amount(rng));
            } else if (a < 60) {
                out = st.cancel(car);
            } else if (a < 75) {
                const bool change_mode = coin(rng);
                out = st.change(car, change_mode ? std::optional<Mode>(mode) : std::nullopt,
                                coin(rng) ? std::optional<double>(amount(rng)) : std::nullopt);
            } else if (a < 84) {
                out = st.fault(pile, coin(rng) ? minutes(rng) * station::kMsPerMinute : 0);
            } else if (a < 94) {
                out = st.recover(pile);
            } else if (a < 97) {
                out = st.switch_off(pile);
            } else {
                out = st.switch_on(pile);
            }
            ++commands;
            if (out.ok() && out.order != station::kNone && (a < 45 || (a >= 60 && a < 75)) &&
                issued.insert(st.order(out.order).issue_seq).second) {
                // A number was issued just now: it must not repeat a number of today.
                const auto& o = st.order(out.order);
                const auto key = std::make_tuple(station::day_of(st.now()),
                                                 station::mode_index(o.mode), o.number);
                const auto [it, fresh] = numbers.emplace(key, o.issue_seq);
                INFO("scenario " << n << " event " << e);
                REQUIRE((fresh || it->second == o.issue_seq));  // a number is never reused
            }
            const std::string broken = check_invariants(st);
            INFO("scenario " << n << " event " << e << " profile " << prof.name);
            REQUIRE(broken.empty());
        }
        // Bring every pile back; then every accepted car must end FINISHED or CANCELLED.
        for (const auto& p : prof.piles) {
            (void)st.recover(p.id);
            (void)st.switch_on(p.id);
        }
        st.run_until_idle();
        INFO("scenario " << n);
        REQUIRE(check_invariants(st).empty());
        for (const auto& o : st.orders()) {
            REQUIRE_FALSE(o.active());
            if (o.state == station::OrderState::Finished) {
                REQUIRE(std::fabs(o.delivered_kwh - o.requested_kwh) < 1e-9);
            }
        }
        accepted_orders += static_cast<long long>(st.orders().size());
    }
    // The generator must actually exercise the station, not just be rejected.
    CHECK(commands > 100000);
    CHECK(accepted_orders > 30000);
}

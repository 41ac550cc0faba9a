// station-rules §8 (pile totals and period reports) and the events the core reports.
#include <catch2/catch.hpp>

#include "station/report.hpp"
#include "support.hpp"

using station::Mode;
using station::Period;
using test::at;

namespace {
// 2026-11-25 is a Wednesday; the station starts that day at 08:00.
const std::int64_t kWed = station::days_from_civil({2026, 11, 25});
station::TimeMs on(std::int64_t day, int h, int m = 0) {
    return day * station::kMsPerDay + at(h, m);
}
}  // namespace

TEST_CASE("§8 pile totals always equal the sum of the pile's bills", "[rules][reports]") {
    station::Station st(test::profile(1, 1, 30, 10, 10, 2), on(kWed, 8));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());
    REQUIRE(st.submit("B", Mode::Fast, 15).ok());
    REQUIRE(st.submit("C", Mode::Slow, 5).ok());
    st.advance_to(on(kWed, 8, 20));
    REQUIRE(st.cancel("C").ok());  // 3.33 kWh at T1
    st.run_until_idle();
    const auto& f1 = st.pile_totals(0);
    CHECK(f1.charges == 2);
    CHECK(f1.kwh == Approx(45));
    CHECK(f1.hours() == Approx(1.5));
    CHECK(f1.charge_fee == Approx(45 * 0.7));
    CHECK(f1.service_fee == Approx(45 * 0.8));
    CHECK(f1.total_fee() == Approx(45 * 1.5));
    const auto& t1 = st.pile_totals(1);
    CHECK(t1.charges == 1);
    CHECK(t1.kwh == Approx(10.0 / 3.0));
    station::PileTotals sum;
    for (const auto& b : st.bills()) {
        if (b.pile == 1) {
            sum.add(b);
        }
    }
    CHECK(sum.total_fee() == Approx(t1.total_fee()));
}

TEST_CASE("§8 period spans: day — ISO week — calendar month", "[rules][reports]") {
    const auto day = station::period_span(Period::Day, kWed);
    CHECK(day.from == kWed * station::kMsPerDay);
    CHECK(day.to == (kWed + 1) * station::kMsPerDay);
    const auto week = station::period_span(Period::Week, kWed);
    CHECK(week.from == (kWed - 2) * station::kMsPerDay);  // Monday 2026-11-23
    CHECK(week.to == (kWed + 5) * station::kMsPerDay);
    const auto month = station::period_span(Period::Month, kWed);
    CHECK(month.from == station::days_from_civil({2026, 11, 1}) * station::kMsPerDay);
    CHECK(month.to == station::days_from_civil({2026, 12, 1}) * station::kMsPerDay);
    const auto dec = station::period_span(Period::Month, station::days_from_civil({2026, 12, 31}));
    CHECK(dec.to == station::days_from_civil({2027, 1, 1}) * station::kMsPerDay);
    CHECK(station::parse_period("week") == Period::Week);
    CHECK_FALSE(station::parse_period("year"));
}

TEST_CASE("§8 reports per pile and period are built from the bills", "[rules][reports]") {
    station::Station st(test::profile(1, 0, 30, 10, 10, 2), on(kWed, 8));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());  // Wednesday 08:00-09:00
    st.advance_to(on(kWed + 1, 23, 30));
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());  // Thursday 23:30 - Friday 00:30
    st.advance_to(on(kWed + 5, 10));
    REQUIRE(st.submit("C", Mode::Fast, 60).ok());  // next Monday 10:00-12:00
    st.run_until_idle();
    auto report = [&](Period p, std::int64_t d) {
        return station::pile_report(st.bills(), 0, station::period_span(p, d));
    };
    CHECK(report(Period::Day, kWed).kwh == Approx(30));
    CHECK(report(Period::Day, kWed + 1).charges == 0);  // B's bill was made on Friday
    CHECK(report(Period::Day, kWed + 2).kwh == Approx(30));
    CHECK(report(Period::Week, kWed).charges == 2);
    CHECK(report(Period::Week, kWed + 5).kwh == Approx(60));
    CHECK(report(Period::Month, kWed).charges == 3);
    CHECK(report(Period::Month, kWed).total_fee() == Approx(st.pile_totals(0).total_fee()));
    CHECK(station::pile_report(st.bills(), 1, station::period_span(Period::Month, kWed)).charges ==
          0);
}

TEST_CASE("the core reports session — order and pile events for its adapters", "[core][events]") {
    station::Station st(test::profile(1, 0, 30, 10, 10, 2), at(8, 0));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());
    CHECK(st.take_events().empty());  // off by default
    st.record_events(true);
    REQUIRE(st.submit("B", Mode::Fast, 15).ok());
    st.advance_to(at(9, 0));
    const auto events = st.take_events();
    CHECK(st.take_events().empty());
    std::vector<std::string> kinds;
    for (const auto& e : events) {
        std::visit(
            [&](const auto& ev) {
                using T = std::decay_t<decltype(ev)>;
                if constexpr (std::is_same_v<T, station::SessionStarted>) {
                    kinds.push_back("started " + std::string(st.car_name(st.order(ev.order))));
                    CHECK(ev.target_kwh == Approx(15));
                    CHECK(ev.at == at(9, 0));
                } else if constexpr (std::is_same_v<T, station::SessionStopped>) {
                    kinds.push_back("stopped " + std::string(st.car_name(st.order(ev.order))));
                    CHECK(ev.reason == station::StopReason::Completed);
                    REQUIRE(ev.bill != station::kNone);
                    CHECK(st.bill(ev.bill).kwh == Approx(30));
                }
            },
            e);
    }
    CHECK(kinds == std::vector<std::string>{"stopped A", "started B"});
}

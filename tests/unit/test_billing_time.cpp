// station-rules §6 (billing) and §7 (time).
#include <catch2/catch.hpp>

#include "station/clock.hpp"
#include "station/tariff.hpp"
#include "support.hpp"

using station::Mode;
using station::Tariff;
using test::at;

TEST_CASE("§6 tariff: prices by period", "[rules][billing]") {
    const Tariff t = Tariff::standard();
    CHECK(t.price_at(at(6, 59, 59)) == 0.4);
    CHECK(t.price_at(at(7, 0)) == 0.7);
    CHECK(t.price_at(at(10, 0)) == 1.0);
    CHECK(t.price_at(at(14, 59)) == 1.0);
    CHECK(t.price_at(at(15, 0)) == 0.7);
    CHECK(t.price_at(at(18, 0)) == 1.0);
    CHECK(t.price_at(at(21, 0)) == 0.7);
    CHECK(t.price_at(at(23, 0)) == 0.4);
    CHECK(t.price_at(at(3, 0, 0, 5)) == 0.4);
    CHECK(t.service_rate() == 0.8);
}

TEST_CASE("§6 worked example: 10 kW from 06:00 to 07:10 costs 14.50", "[rules][billing]") {
    const Tariff t = Tariff::standard();
    const double kwh = 10.0 * 70.0 / 60.0;  // 10 kWh valley + 1.667 kWh flat
    const double charge = t.charging_fee(kwh, at(6, 0), at(7, 10));
    CHECK(charge == Approx(10 * 0.4 + (10.0 / 6.0) * 0.7));
    CHECK(charge + t.service_fee(kwh) == Approx(14.50).margin(0.005));

    // The same through the station: a 10 kW pile delivering 11.667 kWh from 06:00.
    station::Station st(test::profile(0, 1, 30, 10, 5, 2), at(6, 0));
    REQUIRE(st.submit("V1", Mode::Slow, kwh).ok());
    st.run_until_idle();
    REQUIRE(st.bills().size() == 1);
    const station::Bill& b = st.bills()[0];
    CHECK(b.start == at(6, 0));
    CHECK(b.stop == at(7, 10));
    CHECK(b.total_fee() == Approx(14.50).margin(0.005));
    CHECK(b.hours() == Approx(70.0 / 60.0));
}

TEST_CASE("§6 a session is split at every tariff boundary — across midnight too",
          "[rules][billing]") {
    const Tariff t = Tariff::standard();
    // 22:00-02:00 at 10 kW: 10 kWh flat (21-23) then 30 kWh valley.
    CHECK(t.charging_fee(40, at(22, 0), at(2, 0, 0, 1)) == Approx(10 * 0.7 + 30 * 0.4));
    // 09:00-19:00 at 1 kW: 1 flat, 5 peak, 3 flat, 1 peak.
    CHECK(t.charging_fee(10, at(9, 0), at(19, 0)) == Approx(1 * 0.7 + 5 * 1.0 + 3 * 0.7 + 1 * 1.0));
    // Two whole days: each day is 7*0.4 + 3*0.7 + 5*1 + 3*0.7 + 3*1 + 2*0.7 + 1*0.4 = 16.8 per kW.
    CHECK(t.charging_fee(48, at(0, 0), at(0, 0, 0, 2)) == Approx(2 * 16.8));
    CHECK(t.charging_fee(0, at(5, 0), at(5, 0)) == 0);
}

TEST_CASE("§6 tariffs are parameters and must tile the day", "[rules][billing]") {
    Tariff t;
    std::string error;
    const auto h = station::kMsPerHour;
    CHECK_FALSE(Tariff::make({{0, 12 * h, 1.0}}, 0.5, t, error));
    CHECK_FALSE(Tariff::make({{0, 12 * h, 1.0}, {11 * h, 24 * h, 0.5}}, 0.5, t, error));
    CHECK_FALSE(Tariff::make({{0, 24 * h, -1.0}}, 0.5, t, error));
    CHECK_FALSE(Tariff::make({{0, 24 * h, 1.0}}, -0.5, t, error));
    // Prices beyond any real one would overflow a bill's cents (found by fuzzing).
    CHECK_FALSE(Tariff::make({{0, 24 * h, 1e300}}, 0.5, t, error));
    CHECK_FALSE(Tariff::make({{0, 24 * h, 1.0}}, 1e5, t, error));
    CHECK(Tariff::make({{0, 24 * h, station::kMaxPricePerKwh}}, 0.5, t, error));
    REQUIRE(Tariff::make({{12 * h, 24 * h, 2.0}, {0, 12 * h, 1.0}}, 0.5, t, error));
    CHECK(t.charging_fee(24, at(0, 0), at(0, 0, 0, 1)) == Approx(12 * 1.0 + 12 * 2.0));
    CHECK(t.service_fee(10) == Approx(5));
}

TEST_CASE("§6 a fault interruption gives one bill per session — the order is their sum",
          "[rules][billing]") {
    station::Station st(test::profile(0, 2, 30, 10, 5, 2), at(8, 0));
    REQUIRE(st.submit("V1", Mode::Slow, 30).ok());  // T1 from 08:00
    st.advance_to(at(9, 0));
    REQUIRE(st.fault("T1").ok());  // 10 kWh delivered; V1 moves to T2 at once
    st.run_until_idle();
    const auto& o = test::order_of(st, "V1");
    REQUIRE(o.state == station::OrderState::Finished);
    REQUIRE(st.bills().size() == 2);
    CHECK(st.bills()[0].pile == *st.find_pile("T1"));
    CHECK(st.bills()[0].kwh == Approx(10));
    CHECK(st.bills()[0].reason == station::StopReason::Fault);
    CHECK(st.bills()[1].pile == *st.find_pile("T2"));
    CHECK(st.bills()[1].start == at(9, 0));
    CHECK(st.bills()[1].stop == at(11, 0));
    CHECK(st.bills()[1].kwh == Approx(20));
    CHECK(o.delivered_kwh == Approx(30));
    CHECK(o.charge_fee == Approx(st.bills()[0].charge_fee + st.bills()[1].charge_fee));
    CHECK(o.charge_fee == Approx(10 * 0.7 + 10 * 0.7 + 10 * 1.0));
    CHECK(o.service_fee == Approx(30 * 0.8));
}

TEST_CASE("§6 a session of zero length makes no bill", "[rules][billing]") {
    station::Station st(test::profile(0, 1, 30, 10, 5, 2), at(8, 0));
    REQUIRE(st.submit("V1", Mode::Slow, 30).ok());
    REQUIRE(test::order_of(st, "V1").state == station::OrderState::Charging);
    REQUIRE(st.cancel("V1").ok());
    CHECK(st.bills().empty());
    CHECK(test::order_of(st, "V1").state == station::OrderState::Cancelled);
}

TEST_CASE("§6 progress counts the running session at the current price", "[rules][billing]") {
    station::Station st(test::profile(0, 1, 30, 10, 5, 2), at(6, 30));
    REQUIRE(st.submit("V1", Mode::Slow, 40).ok());
    st.advance_to(at(7, 30));  // 5 kWh valley, 5 kWh flat
    const auto pr = st.progress(test::order_of(st, "V1").id);
    CHECK(pr.kwh == Approx(10));
    CHECK(pr.charge_fee == Approx(5 * 0.4 + 5 * 0.7));
    CHECK(pr.service_fee == Approx(8));
}

TEST_CASE("§7 station time text forms", "[rules][time]") {
    using namespace station;
    const TimeMs t = days_from_civil({2026, 11, 25}) * kMsPerDay + test::at(6, 5, 9);
    CHECK(format_datetime(t) == "2026-11-25 06:05:09");
    CHECK(parse_datetime("2026-11-25 06:05:09") == t);
    CHECK_FALSE(parse_datetime("2026-02-30 06:05:09"));
    CHECK_FALSE(parse_datetime("2026-11-25 24:00:00"));
    CHECK_FALSE(parse_datetime("2026-11-25T06:05:09"));
    CHECK(parse_date("2024-02-29") == days_from_civil({2024, 2, 29}));
    CHECK_FALSE(parse_date("2023-02-29"));
    CHECK(civil_from_days(0) == CivilDate{1970, 1, 1});
    CHECK(iso_weekday(days_from_civil({2026, 11, 25})) == 3);  // a Wednesday
    CHECK(day_of(-1) == -1);
    CHECK(ms_of_day(-1) == kMsPerDay - 1);
    CHECK(format_hms(test::at(23, 59, 59, 3)) == "23:59:59");
}

TEST_CASE("§7 the simulated clock: start — speed — stop and stepping", "[rules][time]") {
    station::SimulatedClock clock(test::at(6, 0), 10, /*wall*/ 1'000'000);
    CHECK(clock.now(1'000'000) == test::at(6, 0));
    CHECK(clock.now(1'060'000) == test::at(6, 10));  // one wall minute = ten station minutes
    clock.set(test::at(8, 0), 0, 2'000'000);
    CHECK(clock.now(9'000'000) == test::at(8, 0));  // stopped
    clock.advance(5 * station::kMsPerMinute, 9'000'000);
    CHECK(clock.now(9'500'000) == test::at(8, 5));
    clock.advance(-station::kMsPerHour, 9'500'000);  // never backwards
    CHECK(clock.now(9'500'000) == test::at(8, 5));
    CHECK(station::station_time_from_utc(0, 480) == 8 * station::kMsPerHour);
}

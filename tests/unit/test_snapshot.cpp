// Snapshots: a station restored from its image (through the snapshot file format) behaves
// exactly like the original from then on; the format and from_image refuse anything
// damaged or inconsistent without crashing.
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <catch2/catch.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <random>
#include <variant>

#include "service/snapshot_file.hpp"
#include "station/image.hpp"
#include "support.hpp"

using station::kNone;
using station::Mode;
using station::OrderId;
using station::Station;
using station::StationImage;
using station::TimeMs;

namespace {

// ---- random command sequences (as in test_property.cpp) ---------------------------------

struct Command {
    enum Kind { Submit, Change, Cancel, Fault, Recover, SwitchOff, SwitchOn, Advance, RunIdle };
    Kind kind = Advance;
    std::string subject;  // car or pile
    Mode mode = Mode::Fast;
    std::optional<Mode> new_mode;
    std::optional<double> kwh;
    TimeMs time = 0;  // Advance: the target; Fault: the duration
};

station::Profile random_profile(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> pick(0, 3);
    const int which = pick(rng);
    station::Profile p;
    if (which < 3) {
        p = *station::builtin_profile(
            station::builtin_profile_names()[static_cast<std::size_t>(which)]);
    } else {
        std::uniform_int_distribution<int> count(1, 3);
        std::uniform_int_distribution<int> power(3, 60);
        p = test::profile(count(rng), count(rng), 0, 0, count(rng) * 2, count(rng));
        for (auto& pile : p.piles) {
            pile.power = power(rng);
        }
    }
    std::uniform_int_distribution<int> coin(0, 1);
    p.policy.candidates = coin(rng) ? station::Candidates::Best : station::Candidates::Free;
    p.policy.fault_strategy =
        coin(rng) ? station::FaultStrategy::Priority : station::FaultStrategy::TimeOrder;
    p.policy.fault_pause = coin(rng) ? station::FaultPause::All : station::FaultPause::Mode;
    return p;
}

// Amounts of every kind the codec treats apart: random doubles, hundredths, whole numbers,
// and now and then one so small that its session takes 0 ms.
double random_amount(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> kind(0, 19);
    std::uniform_real_distribution<double> real(0.5, 80.0);
    std::uniform_int_distribution<int> cents(50, 8000);
    const int k = kind(rng);
    if (k == 0) {
        return 1e-7;
    }
    if (k < 8) {
        return cents(rng) / 100.0;
    }
    return real(rng);
}

std::vector<Command> random_commands(std::mt19937_64& rng, const station::Profile& prof,
                                     TimeMs start, int count) {
    std::uniform_int_distribution<int> car_pick(0, 11);
    std::uniform_int_distribution<int> action(0, 99);
    std::uniform_int_distribution<int> minutes(0, 40);
    std::uniform_int_distribution<int> coin(0, 1);
    std::uniform_int_distribution<std::size_t> pile_pick(0, prof.piles.size() - 1);
    std::vector<Command> out;
    TimeMs t = start;
    for (int e = 0; e < count; ++e) {
        t += minutes(rng) * station::kMsPerMinute + (coin(rng) ? 0 : 1234);
        out.push_back(Command{Command::Advance, "", Mode::Fast, std::nullopt, std::nullopt, t});
        Command c;
        c.mode = coin(rng) ? Mode::Fast : Mode::Slow;
        const int a = action(rng);
        if (a < 45) {
            c.kind = Command::Submit;
            c.kwh = random_amount(rng);
        } else if (a < 60) {
            c.kind = Command::Cancel;
        } else if (a < 75) {
            c.kind = Command::Change;
            if (coin(rng)) {
                c.new_mode = c.mode;
            }
            if (coin(rng)) {
                c.kwh = random_amount(rng);
            }
        } else if (a < 84) {
            c.kind = Command::Fault;
            c.time = coin(rng) ? minutes(rng) * station::kMsPerMinute : 0;
        } else if (a < 94) {
            c.kind = Command::Recover;
        } else if (a < 97) {
            c.kind = Command::SwitchOff;
        } else {
            c.kind = Command::SwitchOn;
        }
        const bool on_car =
            c.kind == Command::Submit || c.kind == Command::Cancel || c.kind == Command::Change;
        c.subject = on_car ? "V" + std::to_string(car_pick(rng)) : prof.piles[pile_pick(rng)].id;
        out.push_back(c);
    }
    // Bring every pile back and let every session end.
    for (const auto& p : prof.piles) {
        out.push_back(Command{Command::Recover, p.id, Mode::Fast, std::nullopt, std::nullopt, 0});
        out.push_back(Command{Command::SwitchOn, p.id, Mode::Fast, std::nullopt, std::nullopt, 0});
    }
    out.push_back(Command{Command::RunIdle, "", Mode::Fast, std::nullopt, std::nullopt, 0});
    return out;
}

// Runs a command; returns its outcome as text.
std::string apply(Station& st, const Command& c) {
    station::Outcome out;
    switch (c.kind) {
        case Command::Submit:
            out = st.submit(c.subject, c.mode, *c.kwh);
            break;
        case Command::Change:
            out = st.change(c.subject, c.new_mode, c.kwh);
            break;
        case Command::Cancel:
            out = st.cancel(c.subject);
            break;
        case Command::Fault:
            out = st.fault(c.subject, c.time);
            break;
        case Command::Recover:
            out = st.recover(c.subject);
            break;
        case Command::SwitchOff:
            out = st.switch_off(c.subject);
            break;
        case Command::SwitchOn:
            out = st.switch_on(c.subject);
            break;
        case Command::Advance:
            st.advance_to(c.time);
            return "advanced";
        case Command::RunIdle:
            return "idle at " + std::to_string(st.run_until_idle());
    }
    return std::string(station::code(out.rejection)) + " " + std::to_string(out.order);
}

// ---- what a caller can observe --------------------------------------------------------------

// Text of values, each followed by a space; doubles in hex so that equal means bit for bit.
class Text {
  public:
    template <std::integral T>
    Text& operator<<(T v) {
        char buf[32];
        append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
        return *this;
    }
    Text& operator<<(double v) {
        char buf[48];
        append(buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::hex).ptr);
        return *this;
    }
    Text& operator<<(std::string_view s) {
        append(s.data(), s.data() + s.size());
        return *this;
    }
    Text& operator<<(const char* s) { return *this << std::string_view(s); }
    Text& operator<<(const std::string& s) { return *this << std::string_view(s); }
    std::string str() && { return std::move(out_); }

  private:
    void append(const char* from, const char* to) {
        out_.append(from, to);
        out_ += ' ';
    }
    std::string out_;
};

std::string describe(const station::StationEvent& e) {
    Text t;
    std::visit(
        [&](const auto& ev) {
            using T = std::decay_t<decltype(ev)>;
            if constexpr (std::is_same_v<T, station::SessionStarted>) {
                t << "started" << ev.order << ev.pile << ev.at << ev.target_kwh;
            } else if constexpr (std::is_same_v<T, station::SessionStopped>) {
                t << "stopped" << ev.order << ev.pile << ev.at << station::to_string(ev.reason)
                  << ev.bill;
            } else if constexpr (std::is_same_v<T, station::OrderChanged>) {
                t << "order" << ev.order << ev.at;
            } else {
                t << "pile" << ev.pile << ev.at;
            }
        },
        e);
    return std::move(t).str();
}

std::string events_of(Station& st) {
    std::string out;
    for (const auto& e : st.take_events()) {
        out += describe(e) + "\n";
    }
    return out;
}

// The same values as numbers: much cheaper to take and compare after every step (plain
// stores, as this runs thousands of times per scenario in unoptimised sanitized builds).
class Numbers {
  public:
    template <std::integral T>
    Numbers& operator<<(T v) {
        put(static_cast<std::uint64_t>(v));
        return *this;
    }
    Numbers& operator<<(double v) {
        put(std::bit_cast<std::uint64_t>(v));
        return *this;
    }
    Numbers& operator<<(std::string_view s) {
        std::uint64_t word = s.size();
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (i % 8 == 0) {
                put(word);
                word = 0;
            }
            word = (word << 8) | static_cast<unsigned char>(s[i]);
        }
        put(word);
        return *this;
    }
    Numbers& operator<<(const char* s) { return *this << std::string_view(s); }
    Numbers& operator<<(const std::string& s) { return *this << std::string_view(s); }
    std::vector<std::uint64_t> str() && {
        out_.resize(used_);
        return std::move(out_);
    }

  private:
    void put(std::uint64_t v) {
        if (used_ == out_.size()) {
            out_.resize(out_.size() * 2);
        }
        out_.data()[used_++] = v;
    }
    std::vector<std::uint64_t> out_ = std::vector<std::uint64_t>(512);
    std::size_t used_ = 0;
};

// Everything the public queries show.
template <class Sink>
auto observe_as(const Station& st) {
    Sink t;
    const auto next = st.next_event_time();
    t << "now" << st.now() << "next" << (next ? *next : -1) << "\n";
    for (const station::Order& o : st.orders()) {
        const auto pr = st.progress(o.id);
        const auto active = st.active_order(st.car_name(o));
        t << o.id << st.car_name(o) << st.number_text(o) << station::to_string(o.state)
          << static_cast<int>(o.place) << o.pile << o.issue_seq << o.requested_kwh
          << o.delivered_kwh << o.charge_fee << o.service_fee << o.created_at << o.place_since
          << o.closed_at << o.dispatched_at << o.started_at << o.first_bill << o.last_bill << o.prev
          << o.next << "|" << pr.kwh << pr.charge_fee << pr.service_fee << st.front_cars(o.id)
          << "car's open order" << (active ? *active : -1) << "\n";
    }
    for (const station::Bill& b : st.bills()) {
        t << "bill" << b.id << b.order << b.pile << b.start << b.stop << b.kwh << b.charge_fee
          << b.service_fee << station::to_string(b.reason) << b.next_of_order << "\n";
    }
    for (std::size_t p = 0; p < st.pile_count(); ++p) {
        const auto pi = static_cast<station::PileIndex>(p);
        const auto& tot = st.pile_totals(pi);
        const auto until = st.pile_fault_until(pi);
        t << "pile" << st.pile_spec(pi).id << station::to_string(st.pile_state(pi))
          << (until ? *until : -1) << "[";
        for (OrderId id : st.pile_queue(pi)) {
            t << id;
        }
        t << "]" << tot.charges << tot.charging_ms << tot.kwh << tot.charge_fee << tot.service_fee
          << "\n";
    }
    t << "waiting" << st.waiting_count() << ":";
    for (OrderId id : st.waiting_area()) {
        t << id;
    }
    for (Mode m : {Mode::Fast, Mode::Slow}) {
        t << "|" << std::string_view(&"FT"[station::mode_index(m)], 1) << ":";
        for (OrderId id : st.waiting_of(m)) {
            t << id;
        }
        t << "group";
        for (OrderId id : st.redispatch_group(m)) {
            t << id;
        }
    }
    return std::move(t).str();
}

std::vector<std::uint64_t> observe(const Station& st) {
    return observe_as<Numbers>(st);
}

// Requires that `b` shows what `a` showed (`seen`); on a difference, shows both as text.
void require_same(const Station& a, const std::vector<std::uint64_t>& seen, const Station& b) {
    if (observe(b) != seen) {
        REQUIRE(observe_as<Text>(b) == observe_as<Text>(a));
    }
}

// Through the whole file format, as a restart would see it.
Station restore(const Station& st, const station::Profile& prof) {
    service::Snapshot snap;
    snap.station = st.image();
    snap.app = R"({"note":"test"})";
    snap.journal_lines = 42;
    const std::string bytes = service::encode_snapshot(snap);
    service::Snapshot back = service::decode_snapshot(bytes);
    REQUIRE(back.station == snap.station);
    REQUIRE(back.app == snap.app);
    REQUIRE(back.journal_lines == 42);
    REQUIRE(service::encode_snapshot(back) == bytes);
    Station restored = Station::from_image(prof, std::move(back.station));
    REQUIRE(restored.image() == snap.station);
    return restored;
}

// A station some way into a random scenario, and its profile.
struct Sample {
    station::Profile profile;
    std::unique_ptr<Station> station;
};

Sample busy_station(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    Sample s{random_profile(rng), nullptr};
    s.station = std::make_unique<Station>(s.profile, test::at(7, 0));
    s.station->record_events(true);
    const auto commands = random_commands(rng, s.profile, test::at(7, 0), 60);
    for (std::size_t i = 0; i < commands.size() / 2; ++i) {
        (void)apply(*s.station, commands[i]);
    }
    (void)s.station->take_events();
    return s;
}

// A snapshot with plenty in it: orders in every place, bills, a timed fault.
Sample rich_station() {
    station::Profile prof = test::profile(2, 2, 30, 7, 6, 2);
    Sample s{prof, std::make_unique<Station>(prof, test::at(9, 0))};
    Station& st = *s.station;
    st.record_events(true);
    for (int i = 0; i < 12; ++i) {
        (void)st.submit("C" + std::to_string(i), i % 3 == 0 ? Mode::Slow : Mode::Fast,
                        20.5 + i * 3.25);
    }
    st.advance_to(test::at(9, 40));
    (void)st.cancel("C1");
    REQUIRE(st.fault("F1", 45 * station::kMsPerMinute).ok());
    REQUIRE(st.switch_off("T2").ok());
    st.advance_to(test::at(9, 50));
    (void)st.take_events();
    return s;
}

std::string temp_path(const std::string& name) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("snapshot-tests-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}

void put_u64(std::string& bytes, std::size_t offset, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        bytes[offset + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
    }
}

// Recomputes the trailing CRC, so that a test reaches the checks behind it.
void fix_crc(std::string& bytes) {
    const std::string_view all(bytes);
    const std::uint32_t crc =
        service::crc32(all.substr(0, 24), service::crc32(all.substr(24, all.size() - 28)));
    for (int i = 0; i < 4; ++i) {
        bytes[bytes.size() - 4 + static_cast<std::size_t>(i)] = static_cast<char>(crc >> (8 * i));
    }
}

std::string file_bytes(const std::string& path) {
    std::string out;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE(f != nullptr);
    char buf[65536];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) {
        out.append(buf, n);
    }
    std::fclose(f);
    return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("snapshot: a restored station behaves exactly like the original", "[snapshot]") {
    constexpr int kScenarios = 800;
    std::mt19937_64 rng(20270117);
    std::uniform_int_distribution<int> coin(0, 1);
    long long compared_steps = 0;
    long long restored_orders = 0;
    for (int n = 0; n < kScenarios; ++n) {
        const station::Profile prof = random_profile(rng);
        const TimeMs start = coin(rng) ? test::at(6, 0, 0, 400) : test::at(22, 30, 0, 400);
        const auto commands = random_commands(rng, prof, start, 20 + n % 80);
        std::uniform_int_distribution<std::size_t> split(0, commands.size());
        std::size_t first = split(rng);
        std::size_t second = split(rng);
        if (second < first) {
            std::swap(first, second);
        }
        INFO("scenario " << n << " profile " << prof.name << " snapshots after commands " << first
                         << " and " << second << " of " << commands.size());

        Station a(prof, start);
        a.record_events(n % 10 != 0);  // now and then a station that does not record
        std::vector<Station> copies;   // restored from a, then from the first copy
        for (std::size_t i = 0; i < commands.size(); ++i) {
            if (i == first) {
                (void)a.take_events();
                copies.push_back(restore(a, prof));
                restored_orders += static_cast<long long>(a.orders().size());
            }
            if (i == second) {
                (void)copies.front().take_events();
                copies.push_back(restore(copies.front(), prof));
            }
            const std::string outcome = apply(a, commands[i]);
            const std::string events = events_of(a);
            const auto seen = observe(a);
            for (Station& b : copies) {
                INFO("command " << i);
                REQUIRE(apply(b, commands[i]) == outcome);
                REQUIRE(events_of(b) == events);
                require_same(a, seen, b);
                ++compared_steps;
            }
        }
        for (const Station& b : copies) {
            REQUIRE(b.image() == a.image());
        }
    }
    CHECK(compared_steps > 50000);
    CHECK(restored_orders > 5000);
}

TEST_CASE("snapshot: a session, a timed fault and the day's numbers go on after a restore",
          "[snapshot]") {
    const station::Profile prof = test::profile(1, 1, 30, 7, 4, 2);
    Station a(prof, test::at(23, 0));
    a.record_events(true);
    REQUIRE(a.submit("A", Mode::Fast, 30).ok());  // charges 23:00-00:00
    REQUIRE(a.submit("B", Mode::Fast, 15).ok());  // queued behind A
    REQUIRE(a.submit("C", Mode::Slow, 7).ok());   // charges 23:00-00:00 at T1
    REQUIRE(a.fault("T1", 20 * station::kMsPerMinute).ok());
    a.advance_to(test::at(23, 10));
    (void)a.take_events();

    Station b = restore(a, prof);
    CHECK(b.pile_fault_until(*b.find_pile("T1")) == test::at(23, 20));
    CHECK(b.next_event_time() == test::at(23, 20));
    CHECK(test::group_of(b, Mode::Slow) == "C");
    b.advance_to(test::at(23, 20));  // T1 recovers by itself and takes C back
    CHECK(test::queue_of(b, "T1") == "C");
    b.advance_to(test::at(0, 0, 0, 1));  // A completes at midnight, B starts
    CHECK(test::order_of(b, "A").state == station::OrderState::Finished);
    CHECK(test::queue_of(b, "F1") == "B");
    // A new day: numbers start again at 1.
    REQUIRE(b.submit("D", Mode::Fast, 5).ok());
    CHECK(b.number_text(test::order_of(b, "D")) == "F1");
    REQUIRE(b.submit("E", Mode::Fast, 5).ok());
    CHECK(b.number_text(test::order_of(b, "E")) == "F2");
    CHECK(b.orders().size() == 5);
}

TEST_CASE("snapshot: the image and the bytes round-trip exactly", "[snapshot]") {
    CHECK(service::crc32("123456789") == 0xCBF43926U);
    CHECK(service::crc32("") == 0U);
    CHECK(service::crc32("6789", service::crc32("12345")) == 0xCBF43926U);

    Sample s = rich_station();
    service::Snapshot snap{
        s.station->image(), "{\"schema\":1,\"text\":\"\\u0000 bytes\"}", 123, {}, {}};
    snap.app.push_back('\0');  // opaque: any bytes
    const std::string bytes = service::encode_snapshot(snap);
    const service::Snapshot back = service::decode_snapshot(bytes);
    CHECK(back.station == snap.station);
    CHECK(back.app == snap.app);
    CHECK(back.journal_lines == 123);
    CHECK(service::encode_snapshot(back) == bytes);

    // Values that no prediction covers still come back bit for bit.
    StationImage odd = snap.station;
    odd.orders[0].requested_kwh = -0.0;
    odd.orders[1].charge_fee = std::numeric_limits<double>::quiet_NaN();
    odd.orders[2].delivered_kwh = std::numeric_limits<double>::infinity();
    odd.orders[3].mode = static_cast<Mode>(200);
    odd.orders[3].created_at = std::numeric_limits<TimeMs>::min();
    odd.orders[4].issue_seq = std::numeric_limits<std::int64_t>::max();
    odd.orders[5].car = std::numeric_limits<std::int32_t>::min();
    odd.bills[0].order = -7;
    odd.bills[0].stop = std::numeric_limits<TimeMs>::max();
    odd.piles[0].queue.push_back(-1);
    odd.cars[0] = std::string(300, 'x');
    const service::Snapshot odd_back =
        service::decode_snapshot(service::encode_snapshot(service::Snapshot{odd, "", 0, {}, {}}));
    CHECK(odd_back.station == odd);
    CHECK(std::signbit(odd_back.station.orders[0].requested_kwh));
    CHECK(std::isnan(odd_back.station.orders[1].charge_fee));

    // The change log's positions, whatever they are.
    service::Snapshot with_positions = snap;
    with_positions.order_pos.assign(s.station->orders().size(), 0);
    with_positions.order_pos.back() = std::numeric_limits<std::int64_t>::max();
    with_positions.order_pos.front() = std::numeric_limits<std::int64_t>::min();
    REQUIRE(s.station->bills().size() >= 2);
    with_positions.bill_pos.assign(s.station->bills().size(), 9);
    with_positions.bill_pos[1] = -3;
    const service::Snapshot positions_back =
        service::decode_snapshot(service::encode_snapshot(with_positions));
    CHECK(positions_back.order_pos == with_positions.order_pos);
    CHECK(positions_back.bill_pos == with_positions.bill_pos);
    CHECK(positions_back.station == snap.station);
    // More positions than orders is refused.
    with_positions.bill_pos.assign(s.station->bills().size() + 1, 1);
    CHECK_THROWS_AS(service::decode_snapshot(service::encode_snapshot(with_positions)),
                    std::runtime_error);

    // An empty station too.
    const Station empty(s.profile, test::at(0, 0));
    const service::Snapshot none{empty.image(), "", 0, {}, {}};
    CHECK(service::decode_snapshot(service::encode_snapshot(none)).station == none.station);
}

TEST_CASE("snapshot: a file of format version 1 (no position sections) is still read",
          "[snapshot]") {
    Sample s = rich_station();
    const service::Snapshot snap{s.station->image(), "{\"order_pos\":[1]}", 42, {}, {}};
    std::string v2 = service::encode_snapshot(snap);
    // Version 1 is version 2 without the two position counts (empty here, so zero) after
    // the 49 bytes of scalars and the ten counts of sections.
    constexpr std::size_t kHeader = 24;
    constexpr std::size_t kCounts = kHeader + 49 + 10 * 8;
    REQUIRE(v2.substr(kCounts, 16) == std::string(16, '\0'));
    std::string payload = v2.substr(kHeader, v2.size() - kHeader - 4);
    payload.erase(kCounts - kHeader, 16);
    std::string v1 = v2.substr(0, kHeader);
    v1[8] = 1;  // the version, little-endian
    for (int i = 0; i < 8; ++i) {
        v1[static_cast<std::size_t>(16 + i)] =
            static_cast<char>((payload.size() >> (8 * i)) & 0xFFU);
    }
    const std::uint32_t crc = service::crc32(v1, service::crc32(payload));
    v1 += payload;
    for (int i = 0; i < 4; ++i) {
        v1.push_back(static_cast<char>((crc >> (8 * i)) & 0xFFU));
    }
    const service::Snapshot back = service::decode_snapshot(v1);
    CHECK(back.station == snap.station);
    CHECK(back.app == snap.app);
    CHECK(back.journal_lines == 42);
    CHECK(back.order_pos.empty());
    CHECK(back.bill_pos.empty());
    // Rewritten, it is version 2 again, byte for byte.
    CHECK(service::encode_snapshot(back) == v2);
    // Another version is refused.
    v1[8] = 3;
    CHECK_THROWS_AS(service::decode_snapshot(v1), std::runtime_error);
}

TEST_CASE("snapshot: decoding refuses damaged bytes and never crashes", "[snapshot]") {
    Sample s = rich_station();
    const std::string bytes =
        service::encode_snapshot(service::Snapshot{s.station->image(), "{\"a\":1}", 9, {}, {}});
    REQUIRE(bytes.size() > 300);

    SECTION("every truncation") {
        for (std::size_t len = 0; len < bytes.size(); ++len) {
            INFO("length " << len);
            REQUIRE_THROWS_AS(service::decode_snapshot(std::string_view(bytes).substr(0, len)),
                              std::runtime_error);
        }
        CHECK_THROWS_WITH(service::decode_snapshot(bytes.substr(0, bytes.size() - 10)),
                          Catch::Contains("truncated"));
    }
    SECTION("every flipped byte and bit") {
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            for (const int mask : {0x01, 0x80, 0xFF}) {
                std::string bad = bytes;
                bad[i] = static_cast<char>(bad[i] ^ mask);
                INFO("byte " << i << " mask " << mask);
                REQUIRE_THROWS_AS(service::decode_snapshot(bad), std::runtime_error);
            }
        }
        std::string bad = bytes;
        bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x10);
        CHECK_THROWS_WITH(service::decode_snapshot(bad), Catch::Contains("CRC"));
    }
    SECTION("trailing bytes") {
        CHECK_THROWS_AS(service::decode_snapshot(bytes + "x"), std::runtime_error);
    }
    SECTION("wrong magic, version or flags") {
        std::string bad = bytes;
        bad[0] = 'X';
        CHECK_THROWS_WITH(service::decode_snapshot(bad), Catch::Contains("magic"));
        CHECK_THROWS_WITH(service::decode_snapshot("{\"orders\":[]}                 "),
                          Catch::Contains("magic"));
        bad = bytes;
        bad[8] = 3;
        fix_crc(bad);
        CHECK_THROWS_WITH(service::decode_snapshot(bad), Catch::Contains("version 3"));
        bad = bytes;
        bad[12] = 1;
        fix_crc(bad);
        CHECK_THROWS_WITH(service::decode_snapshot(bad), Catch::Contains("flags"));
    }
    SECTION("absurd counts, even under a valid CRC") {
        // The counts follow the 24-byte header and 49 bytes of scalars (snapshot_file.hpp).
        constexpr std::size_t kCounts = 24 + 49;
        for (std::size_t k = 0; k < 10; ++k) {
            for (const std::uint64_t absurd :
                 {std::uint64_t{1} << 62, ~std::uint64_t{0}, std::uint64_t{bytes.size()},
                  std::uint64_t{1} << 32}) {
                std::string bad = bytes;
                put_u64(bad, kCounts + 8 * k, absurd);
                fix_crc(bad);
                INFO("count " << k << " = " << absurd);
                REQUIRE_THROWS_WITH(service::decode_snapshot(bad), Catch::Contains("can hold"));
            }
        }
        // A negative journal line count.
        std::string bad = bytes;
        put_u64(bad, 24, ~std::uint64_t{0});
        fix_crc(bad);
        CHECK_THROWS_WITH(service::decode_snapshot(bad), Catch::Contains("journal"));
    }
    SECTION("random damage under a valid CRC: refused or consistent, never a crash") {
        std::mt19937_64 rng(7);
        std::uniform_int_distribution<std::size_t> where(24, bytes.size() - 5);
        std::uniform_int_distribution<int> value(0, 255);
        std::uniform_int_distribution<int> hits(1, 4);
        int decoded = 0;
        int restored = 0;
        for (int round = 0; round < 4000; ++round) {
            std::string bad = bytes;
            for (int h = hits(rng); h > 0; --h) {
                bad[where(rng)] = static_cast<char>(value(rng));
            }
            fix_crc(bad);
            service::Snapshot snap;
            try {
                snap = service::decode_snapshot(bad);
            } catch (const std::runtime_error&) {
                continue;
            }
            ++decoded;
            try {
                Station st = Station::from_image(s.profile, std::move(snap.station));
                ++restored;
                // Whatever was accepted must run.
                (void)st.submit("NEW", Mode::Fast, 12.5);
                (void)st.cancel("C3");
                (void)st.fault("F2", station::kMsPerHour);
                st.run_until_idle();
            } catch (const std::invalid_argument&) {
            }
        }
        WARN("random damage: " << decoded << " of 4000 decoded, " << restored << " restored");
        CHECK(decoded > 0);
    }
}

TEST_CASE("snapshot: from_image refuses images no station can be in", "[snapshot]") {
    Sample s = rich_station();
    const station::Profile& prof = s.profile;
    const StationImage good = s.station->image();
    REQUIRE_NOTHROW(Station::from_image(prof, good));
    REQUIRE(good.piles[1].queue.size() == 2);  // F2: charging head and one behind
    REQUIRE(!good.waiting[0].empty());         // fast cars waiting
    REQUIRE(!good.groups[0].empty());          // F1's cars await re-dispatch
    REQUIRE(good.orders[1].state == station::OrderState::Cancelled);
    REQUIRE(good.timers.size() >= 3);

    // Each mutation must be refused for the reason it breaks.
    const auto refuses = [&](const std::string& reason,
                             const std::function<void(StationImage&)>& mutate,
                             const station::Profile* other = nullptr) {
        StationImage im = good;
        mutate(im);
        REQUIRE_THROWS_WITH(Station::from_image(other ? *other : prof, im),
                            Catch::StartsWith("station image: ") && Catch::Contains(reason));
    };
    const auto keep = [](StationImage&) {};
    const OrderId head = good.piles[1].queue[0];
    const OrderId behind = good.piles[1].queue[1];
    const OrderId waiting = good.waiting[0][0];
    const auto at = [](OrderId id) { return static_cast<std::size_t>(id); };

    station::Profile more = prof;
    more.piles.push_back({"F9", "", Mode::Fast, 30});
    refuses("the image has 4 piles, the profile 5", keep, &more);
    station::Profile longer = prof;
    longer.queue_length = 3;
    refuses("taken under another profile", keep, &longer);
    station::Profile faster = prof;
    faster.piles[1].power = 31;
    refuses("taken under another profile", keep, &faster);
    station::Profile renamed = prof;
    renamed.piles[0].id = "FX";
    refuses("pile 0 is \"F1\" in the image but \"FX\" in the profile", keep, &renamed);
    station::Profile invalid = prof;
    invalid.waiting_area = 0;
    refuses("the profile is not valid", keep, &invalid);

    refuses("names order 99999, which does not exist",
            [](StationImage& im) { im.piles[1].queue[1] = 99999; });
    refuses("names order -5, which does not exist",
            [](StationImage& im) { im.piles[1].queue[1] = -5; });
    refuses("is in two places", [&](StationImage& im) { im.groups[0].push_back(behind); });
    refuses("its place does not list it", [](StationImage& im) { im.piles[1].queue.pop_back(); });
    refuses("order 1: does not fit its place in F2's queue",  // order 1 is closed
            [](StationImage& im) { im.piles[1].queue[1] = 1; });
    refuses("its queue is longer than the profile allows", [&](StationImage& im) {
        im.piles[1].queue.push_back(waiting);
        im.waiting[0].erase(im.waiting[0].begin());
    });
    refuses("holds cars while down", [](StationImage& im) { im.piles[1].on = false; });
    refuses("does not fit its place in F2's queue", [&](StationImage& im) {
        im.orders[at(head)].state = station::OrderState::Dispatched;  // a head not charging
    });
    refuses("does not fit its place in the waiting area",
            [](StationImage& im) { std::swap(im.waiting[0][0], im.waiting[0].back()); });
    refuses("does not fit its place in the waiting area", [&](StationImage& im) {
        im.waiting[1].push_back(waiting);  // in the other mode's list
        im.waiting[0].erase(im.waiting[0].begin());
    });
    refuses("does not fit its place in a re-dispatch group",
            [](StationImage& im) { std::swap(im.groups[0], im.groups[1]); });
    refuses("order 2: its id is 3", [](StationImage& im) { im.orders[2].id = 3; });
    refuses("order 2: no such car", [](StationImage& im) { im.orders[2].car = 500; });
    refuses("appears twice", [](StationImage& im) { im.cars[2] = im.cars[3]; });
    refuses("car 2 has no name", [](StationImage& im) { im.cars[2].clear(); });
    refuses("its car has another open order",
            [&](StationImage& im) { im.orders[at(waiting)].car = im.orders[at(head)].car; });
    refuses("mode, state or place out of range",
            [](StationImage& im) { im.orders[1].state = static_cast<station::OrderState>(9); });
    refuses("its state does not fit its place", [&](StationImage& im) {
        im.orders[at(waiting)].state = station::OrderState::Charging;
    });
    refuses("is closed but has a place", [&](StationImage& im) {
        im.orders[at(waiting)].state = station::OrderState::Finished;
    });
    refuses("an amount is not a number in range", [&](StationImage& im) {
        im.orders[at(waiting)].requested_kwh = std::numeric_limits<double>::quiet_NaN();
    });
    refuses("its remaining amount is out of range",
            [&](StationImage& im) { im.orders[at(waiting)].requested_kwh = 1e300; });
    refuses("bill 2: its id is 1", [](StationImage& im) { im.bills.push_back(im.bills[1]); });
    refuses("its bills are not in creation order",
            [](StationImage& im) { im.bills[0].next_of_order = 0; });
    refuses("its bills are not its own",
            [](StationImage& im) { im.orders[0].first_bill = im.orders[0].last_bill = 1; });
    refuses("belongs to no order's bills", [&](StationImage& im) {
        station::Order& o = im.orders[at(im.bills[0].order)];
        o.first_bill = o.last_bill = kNone;
    });
    refuses("bill 0: a time or amount is out of range",
            [](StationImage& im) { im.bills[0].stop = im.now + 1; });
    refuses("the timers are not those", [](StationImage& im) { im.timers.pop_back(); });
    refuses("the timers are not those", [](StationImage& im) { im.timers[0].at += 1; });
    refuses("the timers are not those", [](StationImage& im) { ++im.timers[0].version; });
    refuses("the head's session times do not fit its amount", [](StationImage& im) {
        im.piles[1].head_done_at += 1;
        for (auto& t : im.timers) {
            if (t.pile == 1 && t.kind == station::TimerKind::Completion) {
                t.at += 1;
            }
        }
    });
    refuses("has a fault end but no fault",
            [](StationImage& im) { im.piles[2].fault_until = im.now + 5; });
    refuses("its fault end is out of range or past", [](StationImage& im) {
        im.piles[0].fault_until = im.now - 5;
        for (auto& t : im.timers) {
            if (t.kind == station::TimerKind::FaultEnd) {
                t.at = im.now - 5;
            }
        }
    });
    refuses("the number counters' day is not today or before",
            [](StationImage& im) { im.counter_day += 1; });
    refuses("its issue sequence is not below the next one",
            [](StationImage& im) { im.next_issue_seq = 3; });
    refuses("the station time is out of range",
            [](StationImage& im) { im.now = std::numeric_limits<TimeMs>::max(); });

    // A state no calling pass leaves: a free place at a pile while a car waits.
    const station::Profile one = test::profile(1, 0, 30, 7, 4, 1);
    Station st(one, test::at(8, 0));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());
    StationImage im = st.image();
    REQUIRE(im.waiting[0].size() == 1);
    REQUIRE(Station::from_image(one, im).waiting_count() == 1);
    station::Order& a = im.orders[0];
    a.state = station::OrderState::Cancelled;
    a.place = station::Place::None;
    a.pile = station::kNone;
    a.closed_at = im.now;
    im.piles[0].queue.clear();
    im.timers.clear();
    CHECK_THROWS_WITH(Station::from_image(one, im), Catch::Contains("called"));
}

TEST_CASE("snapshot: from_image refuses or runs any mutated image and never crashes",
          "[snapshot]") {
    std::mt19937_64 rng(11);
    int refused = 0;
    int restored = 0;
    for (int round = 0; round < 3000; ++round) {
        Sample s =
            round % 2 == 0 ? rich_station() : busy_station(static_cast<std::uint64_t>(round));
        StationImage im = s.station->image();
        const auto n = static_cast<std::int64_t>(im.orders.size());
        const auto nb = static_cast<std::int64_t>(im.bills.size());
        const std::array<std::int64_t, 9> values = {-1, 0, 1, 2, 3, n - 1, n, nb - 1, nb};
        std::uniform_int_distribution<std::size_t> value_pick(0, values.size() - 1);
        std::uniform_int_distribution<int> field(0, 17);
        const auto value = [&] { return static_cast<std::int32_t>(values[value_pick(rng)]); };
        const auto pick = [&](std::size_t size) {
            return std::uniform_int_distribution<std::size_t>(0, size - 1)(rng);
        };
        for (int hits = 1 + round % 3; hits > 0; --hits) {
            station::Order& o =
                im.orders.empty() ? im.orders.emplace_back() : im.orders[pick(im.orders.size())];
            station::PileImage& pile = im.piles[pick(im.piles.size())];
            auto& list = (round & 4) != 0 ? im.waiting[pick(2)] : im.groups[pick(2)];
            switch (field(rng)) {
                case 0:
                    o.state = static_cast<station::OrderState>(value() & 7);
                    break;
                case 1:
                    o.place = static_cast<station::Place>(value() & 3);
                    break;
                case 2:
                    o.pile = value();
                    break;
                case 3:
                    o.prev = value();
                    break;
                case 4:
                    o.next = value();
                    break;
                case 5:
                    o.car = value();
                    break;
                case 6:
                    o.first_bill = value();
                    break;
                case 7:
                    o.last_bill = value();
                    break;
                case 8:
                    o.mode = o.mode == Mode::Fast ? Mode::Slow : Mode::Fast;
                    break;
                case 9:
                    o.requested_kwh = static_cast<double>(values[value_pick(rng)]) * 7.5;
                    break;
                case 10:
                    pile.queue.push_back(value());
                    break;
                case 11:
                    if (!pile.queue.empty()) {
                        pile.queue.erase(pile.queue.begin());
                    }
                    break;
                case 12:
                    list.push_back(value());
                    break;
                case 13:
                    if (!list.empty()) {
                        list.pop_back();
                    }
                    break;
                case 14:
                    pile.faulty = !pile.faulty;
                    break;
                case 15:
                    pile.on = !pile.on;
                    break;
                case 16:
                    if (!im.bills.empty()) {
                        im.bills[pick(im.bills.size())].next_of_order = value();
                    }
                    break;
                default:
                    if (!im.bills.empty()) {
                        im.bills[pick(im.bills.size())].order = value();
                    }
                    break;
            }
        }
        try {
            Station st = Station::from_image(s.profile, im);
            ++restored;
            // Whatever was accepted runs, and images itself again as it was given.
            REQUIRE(st.image() == im);
            (void)st.submit("NEW", Mode::Slow, 12.5);
            (void)st.change("C7", Mode::Slow, 3.0);
            (void)st.cancel("C3");
            (void)st.fault(s.profile.piles[0].id, station::kMsPerHour);
            (void)st.switch_off(s.profile.piles.back().id);
            st.run_until_idle();
            (void)st.switch_on(s.profile.piles.back().id);
            st.run_until_idle();
        } catch (const std::invalid_argument&) {
            ++refused;
        }
    }
    WARN("mutated images: " << refused << " refused, " << restored << " restored and run");
    CHECK(refused > 1000);
}

TEST_CASE("snapshot: files are written atomically with mode 0600 and read back", "[snapshot]") {
    Sample s = busy_station(99);
    const std::string path = temp_path("station.snap");
    std::filesystem::remove(path);
    CHECK_FALSE(service::read_snapshot_file(path).has_value());

    const service::Snapshot snap{s.station->image(), "{\"k\":1}", 77, {}, {}};
    service::write_snapshot_file(path, snap);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    auto back = service::read_snapshot_file(path);
    REQUIRE(back.has_value());
    CHECK(back->station == snap.station);
    CHECK(back->journal_lines == 77);
    CHECK(back->app == "{\"k\":1}");
    CHECK(file_bytes(path) == service::encode_snapshot(snap));

    // An application text bigger than the chunks the file is written in.
    service::Snapshot big_app = snap;
    big_app.app.assign(9'000'000, 'a');
    big_app.app[4'500'000] = 'b';
    service::write_snapshot_file(path, big_app);
    CHECK(file_bytes(path) == service::encode_snapshot(big_app));
    CHECK(service::read_snapshot_file(path)->app == big_app.app);

    // Overwriting replaces it whole, even over a leftover .tmp with a wider mode.
    {
        std::FILE* f = std::fopen((path + ".tmp").c_str(), "w");
        REQUIRE(f != nullptr);
        std::fputs("leftover of a crash", f);
        std::fclose(f);
        ::chmod((path + ".tmp").c_str(), 0666);
    }
    service::Snapshot later = snap;
    later.journal_lines = 78;
    service::write_snapshot_file(path, later);
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(service::read_snapshot_file(path)->journal_lines == 78);

    // A damaged file is an error, not a missing one.
    {
        std::FILE* f = std::fopen(path.c_str(), "r+b");
        REQUIRE(f != nullptr);
        std::fseek(f, 100, SEEK_SET);
        std::fputc('!', f);
        std::fclose(f);
    }
    CHECK_THROWS_WITH(service::read_snapshot_file(path), Catch::Contains(path));
    // A directory that does not exist: refused, and nothing left behind.
    CHECK_THROWS_AS(service::write_snapshot_file(temp_path("no-such-dir") + "/x/s.snap", snap),
                    std::runtime_error);
    CHECK_THROWS_AS(service::read_snapshot_file(std::filesystem::temp_directory_path().string()),
                    std::runtime_error);
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST_CASE("snapshot: size and speed of a big station", "[snapshot][speed]") {
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
    constexpr std::size_t kOrders = 100'000;  // sanitized or unoptimised builds: a tenth
#else
    constexpr std::size_t kOrders = 1'000'000;
#endif
    // 40 fast piles; a request every 20 s from 200,000 cars that come back.
    station::Profile prof = test::profile(40, 0, 60, 7, 100, 3);
    Station a(prof, test::at(0, 0));
    a.reserve(kOrders);
    std::mt19937_64 rng(5);
    std::uniform_int_distribution<int> cents(100, 2000);
    TimeMs t = test::at(0, 0);
    std::size_t i = 0;
    const auto build = std::chrono::steady_clock::now();
    while (a.orders().size() < kOrders) {
        t += 20 * station::kMsPerSecond;
        a.advance_to(t);
        (void)a.submit("CAR" + std::to_string(i++ % 200'000), Mode::Fast, cents(rng) / 100.0);
        if (i % 5000 == 0) {
            (void)a.fault(prof.piles[i / 5000 % 40].id, 30 * station::kMsPerMinute);
        }
    }
    const double build_s = seconds_since(build);
    REQUIRE(a.bills().size() > kOrders * 9 / 10);

    const std::string path = temp_path("big.snap");
    auto start = std::chrono::steady_clock::now();
    service::Snapshot snap{a.image(), "{}", static_cast<std::int64_t>(kOrders), {}, {}};
    const double image_s = seconds_since(start);
    start = std::chrono::steady_clock::now();
    const std::string encoded = service::encode_snapshot(snap);
    const double encode_s = seconds_since(start);
    const std::size_t size = encoded.size();
    start = std::chrono::steady_clock::now();
    service::write_snapshot_file(path, snap);
    const double write_s = seconds_since(start);

    REQUIRE(file_bytes(path) == encoded);  // written in chunks, the same bytes

    start = std::chrono::steady_clock::now();
    auto back = service::read_snapshot_file(path);
    const double read_s = seconds_since(start);
    REQUIRE(back.has_value());
    start = std::chrono::steady_clock::now();
    Station b = Station::from_image(prof, std::move(back->station));
    const double restore_s = seconds_since(start);

    char line[512];
    std::snprintf(line, sizeof line,
                  "%zu orders, %zu bills, %zu cars: %.1f MB (%.1f bytes per order and bill)\n"
                  "  built by commands in %.2f s\n"
                  "  image() %.3f s, encode %.3f s, encode+write+fsync %.3f s\n"
                  "  read+decode %.3f s, from_image %.3f s",
                  a.orders().size(), a.bills().size(), snap.station.cars.size(),
                  static_cast<double>(size) / 1e6,
                  static_cast<double>(size) / static_cast<double>(a.orders().size()), build_s,
                  image_s, encode_s, write_s, read_s, restore_s);
    WARN(line);
    std::filesystem::remove_all(std::filesystem::path(path).parent_path());

    // The restored station is the same and goes on the same.
    REQUIRE(b.image() == snap.station);
    (void)a.take_events();
    for (int k = 0; k < 50; ++k) {
        t += 20 * station::kMsPerSecond;
        a.advance_to(t);
        b.advance_to(t);
        const std::string car = "NEW" + std::to_string(k);
        REQUIRE(a.submit(car, Mode::Fast, 9.99).order == b.submit(car, Mode::Fast, 9.99).order);
    }
    a.run_until_idle();
    b.run_until_idle();
    require_same(a, observe(a), b);
}

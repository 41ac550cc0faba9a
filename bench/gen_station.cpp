// Generates a large station and scenario for the replay benchmark (docs/benchmarks.md):
// a third of the piles fast at 30 kW, the rest slow at 7 kW, waiting area 1,000, queue 3,
// and a stream of events — mostly arrivals at about the station's capacity, with
// cancels, changes and faults — over as many days as that takes.
//
//   gen_station [--piles N] [--events N] [--seed S] OUT_DIR
// writes OUT_DIR/profile.json and OUT_DIR/scenario.txt.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

struct Options {
    int piles = 1000;
    long events = 1'000'000;
    unsigned long seed = 42;
    std::string out_dir;
};

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if ((a == "--piles" || a == "--events" || a == "--seed") && i + 1 < argc) {
            const char* v = argv[++i];
            if (a == "--piles") {
                o.piles = std::atoi(v);
            } else if (a == "--events") {
                o.events = std::atol(v);
            } else {
                o.seed = std::strtoul(v, nullptr, 10);
            }
        } else if (o.out_dir.empty() && !a.empty() && a[0] != '-') {
            o.out_dir = a;
        } else {
            return false;
        }
    }
    return !o.out_dir.empty() && o.piles >= 3 && o.events > 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        std::cerr << "usage: gen_station [--piles N] [--events N] [--seed S] OUT_DIR\n";
        return 2;
    }
    const int fast = o.piles / 3;
    const int slow = o.piles - fast;
    {
        std::ofstream profile(o.out_dir + "/profile.json");
        profile << "{\"name\": \"bench-" << o.piles << "\", \"waiting_area\": 1000, "
                << "\"queue_length\": 3, \"piles\": [";
        for (int i = 0; i < o.piles; ++i) {
            const bool is_fast = i < fast;
            profile << (i ? ", " : "") << "{\"id\": \"" << (is_fast ? 'F' : 'T')
                    << (is_fast ? i + 1 : i - fast + 1) << "\", \"mode\": \""
                    << (is_fast ? 'F' : 'T') << "\", \"power\": " << (is_fast ? 30 : 7) << "}";
        }
        profile << "]}\n";
    }

    std::mt19937_64 rng(o.seed);
    // Mean session: fast 35 kWh / 30 kW = 1.17 h, slow 22.5 kWh / 7 kW = 3.2 h. Arrivals
    // at ~95 % of what the piles can serve per hour, split by mode in that proportion.
    const double fast_per_hour = fast / (35.0 / 30.0);
    const double slow_per_hour = slow / (22.5 / 7.0);
    const double arrivals_per_second = 0.95 * (fast_per_hour + slow_per_hour) / 3600.0;
    const double events_per_second = arrivals_per_second / 0.86;
    std::exponential_distribution<double> gap(events_per_second);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::uniform_int_distribution<int> fast_kwh(10, 60);
    std::uniform_int_distribution<int> slow_kwh(5, 40);
    const long fleet = 50'000;
    std::uniform_int_distribution<long> car_pick(1, fleet);
    std::vector<long> recent;  // recent arrivals, for cancels and changes
    recent.reserve(4096);

    std::FILE* out = std::fopen((o.out_dir + "/scenario.txt").c_str(), "w");
    if (out == nullptr) {
        std::perror("scenario.txt");
        return 1;
    }
    std::fprintf(out, "# generated: %d piles, %ld events, seed %lu\n", o.piles, o.events, o.seed);
    double t = 6 * 3600.0;
    for (long n = 0; n < o.events; ++n) {
        t += gap(rng);
        const auto secs = static_cast<long>(t);
        const long day = secs / 86400;
        std::fprintf(out, "%02ld:%02ld:%02ld", secs % 86400 / 3600, secs % 3600 / 60, secs % 60);
        if (day > 0) {
            std::fprintf(out, "+%ld", day);
        }
        const double r = unit(rng);
        const long any_recent =
            recent.empty()
                ? car_pick(rng)
                : recent[static_cast<std::size_t>(unit(rng) * static_cast<double>(recent.size()))];
        if (r < 0.86 || recent.empty()) {
            const long car = car_pick(rng);
            const bool is_fast = unit(rng) < fast_per_hour / (fast_per_hour + slow_per_hour);
            std::fprintf(out, " (A,C%ld,%c,%d)\n", car, is_fast ? 'F' : 'T',
                         is_fast ? fast_kwh(rng) : slow_kwh(rng));
            if (recent.size() < 4096) {
                recent.push_back(car);
            } else {
                recent[static_cast<std::size_t>(n % 4096)] = car;
            }
        } else if (r < 0.93) {
            std::fprintf(out, " (A,C%ld,O,0)\n", any_recent);
        } else if (r < 0.99) {
            const char* mode = unit(rng) < 0.7 ? "O" : (unit(rng) < 0.5 ? "F" : "T");
            std::fprintf(out, " (C,C%ld,%s,%d)\n", any_recent, mode, slow_kwh(rng));
        } else {
            const int p = static_cast<int>(unit(rng) * o.piles);
            const bool is_fast = p < fast;
            std::fprintf(out, " (B,%c%d,O,%d)\n", is_fast ? 'F' : 'T',
                         is_fast ? p + 1 : p - fast + 1, 10 + static_cast<int>(unit(rng) * 110));
        }
    }
    std::fclose(out);
    std::cerr << "gen_station: " << o.events << " events over " << static_cast<long>(t / 86400) + 1
              << " days\n";
    return 0;
}

// Cost of one dispatch as the station grows (issue #2: it must not grow linearly with the
// number of piles). For each size, a station of N slow piles (queue 3) takes 3N requests
// of varied amounts; with candidates=free each is called at once and dispatched to the best
// pile with a free place (the same index query as `best`), so
// the time per request is the cost of one dispatch. Prints ns per dispatch.
//
//   dispatch_cost [N...]     default: 100 1000 10000 100000

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "station/station.hpp"
#include "station/time.hpp"

namespace {

double ns_per_dispatch(int piles) {
    station::Profile p;
    p.name = "dispatch-cost";
    p.waiting_area = 1;
    p.queue_length = 3;
    p.policy.candidates = station::Candidates::Free;  // every request finds a place
    for (int i = 0; i < piles; ++i) {
        p.piles.push_back({"T" + std::to_string(i + 1), "", station::Mode::Slow, 7});
    }
    station::Station st(std::move(p), 6 * station::kMsPerHour);
    const int requests = 3 * piles;
    std::vector<std::string> cars;
    cars.reserve(static_cast<std::size_t>(requests));
    for (int i = 0; i < requests; ++i) {
        cars.push_back("C" + std::to_string(i));
    }
    st.reserve(static_cast<std::size_t>(requests));
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < requests; ++i) {
        const double kwh = 5 + (i * 7919) % 40;  // varied, deterministic amounts
        if (!st.submit(cars[static_cast<std::size_t>(i)], station::Mode::Slow, kwh).ok() ||
            st.waiting_count() != 0) {
            std::fprintf(stderr, "request %d was not dispatched at once\n", i);
            std::exit(1);
        }
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    return std::chrono::duration<double, std::nano>(elapsed).count() / requests;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<int> sizes;
    for (int i = 1; i < argc; ++i) {
        sizes.push_back(std::atoi(argv[i]));
    }
    if (sizes.empty()) {
        sizes = {100, 1000, 10000, 100000};
    }
    std::printf("%-8s %-16s\n", "piles", "ns/dispatch");
    for (int n : sizes) {
        double best = 1e18;
        for (int run = 0; run < 3; ++run) {
            const double ns = ns_per_dispatch(n);
            best = ns < best ? ns : best;
        }
        std::printf("%-8d %-16.0f\n", n, best);
    }
    return 0;
}

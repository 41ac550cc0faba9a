// The bus benchmark (issue #3). On one machine it starts a broker, the scheduler and the
// pile simulator, and measures:
//  1. message ceilings for one stream of telemetry-sized QoS 0 messages from a fast C
//     publisher (mosquitto_pub -l): the broker with its own C subscriber
//     (mosquitto_sub), a bare Paho async subscriber, and the scheduler (which parses,
//     validates and de-duplicates each one);
//  2. N simulated piles at 1 Hz telemetry, half of them charging: the scheduler's CPU and
//     memory over a measurement window;
//  3. the latency from a pile's fault report to the re-dispatch command, as both are seen
//     on the bus (p50, p99).
//
//   bus_bench [--piles N] [--flood M] [--faults K] [--window S]

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "contract/topics.hpp"
#include "harness.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

struct Options {
    int piles = 100;
    int flood = 200000;
    int faults = 200;
    int window_s = 20;
};

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string write_profile(const std::string& dir, int piles) {
    const int fast = piles / 3;
    json j{{"name", "bus-bench-" + std::to_string(piles)},
           {"waiting_area", 2 * piles},
           {"queue_length", 3},
           {"piles", json::array()}};
    for (int i = 0; i < piles; ++i) {
        const bool f = i < fast;
        j["piles"].push_back(
            json{{"id", std::string(f ? "F" : "T") + std::to_string(f ? i + 1 : i - fast + 1)},
                 {"mode", f ? "F" : "T"},
                 {"power", f ? 30 : 7}});
    }
    const std::string path = dir + "/profile.json";
    std::ofstream(path) << j.dump();
    return path;
}

// CPU seconds (user + system) and peak/current RSS of a process, from /proc.
struct Usage {
    double cpu_s = 0;
    long rss_kb = 0;
    long hwm_kb = 0;
};
Usage usage_of(pid_t pid) {
    Usage u;
    std::string s;
    std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/stat"), s);
    const auto close = s.rfind(')');
    if (close != std::string::npos) {
        std::istringstream rest(s.substr(close + 2));
        std::string field;
        std::vector<std::string> f;
        while (rest >> field) {
            f.push_back(field);
        }
        if (f.size() > 13) {
            u.cpu_s =
                (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
        }
    }
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            u.rss_kb = std::stol(line.substr(6));
        } else if (line.rfind("VmHWM:", 0) == 0) {
            u.hwm_kb = std::stol(line.substr(6));
        }
    }
    return u;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

json stats(harness::Probe& probe) {
    contract::SchedulerRequest r;
    r.op = contract::RequestOp::Stats;
    return probe.request(r, 30s).data;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows even when piped
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        const int v = std::atoi(argv[i + 1]);
        if (a == "--piles") {
            o.piles = v;
        } else if (a == "--flood") {
            o.flood = v;
        } else if (a == "--faults") {
            o.faults = v;
        } else if (a == "--window") {
            o.window_s = v;
        }
    }
    const std::string dir = harness::temp_dir();
    const std::string profile = write_profile(dir, o.piles);
    harness::Broker broker;
    const std::string port = std::to_string(broker.port());
    std::printf("bus_bench: %d piles, flood %d, %d faults, window %d s; files in %s\n", o.piles,
                o.flood, o.faults, o.window_s, dir.c_str());

    // ---- 1. ceilings on one telemetry stream ------------------------------------------
    const std::string topic = contract::pile_topic("T1", contract::PileChannel::Telemetry);
    const std::string flood_file = dir + "/flood.txt";
    {
        std::ofstream f(flood_file);
        for (int i = 1; i <= o.flood; ++i) {
            f << R"({"pile":"T1","session":"bench","order":0,"energy_kwh":)" << i * 0.001
              << R"(,"power_kw":7.0,"at_ms":1795586400000,"time":"2026-11-25 06:00:00","boot":"bench","seq":)"
              << i << "}\n";
        }
    }
    const std::string publish =
        "mosquitto_pub -h 127.0.0.1 -p " + port + " -q 0 -t " + topic + " -l < " + flood_file;

    // Broker with its own C subscriber.
    double broker_rate = 0;
    {
        const std::string sub = "timeout 120 mosquitto_sub -h 127.0.0.1 -p " + port + " -q 0 -t " +
                                topic + " -C " + std::to_string(o.flood) + " > /dev/null";
        std::thread subscriber([&] {
            const auto t0 = Clock::now();
            if (std::system(sub.c_str()) == 0) {
                broker_rate = o.flood / seconds_since(t0);
            }
        });
        std::this_thread::sleep_for(300ms);  // subscribed before the flood starts
        const auto t0 = Clock::now();
        std::system(publish.c_str());
        subscriber.join();
        broker_rate = broker_rate > 0 ? o.flood / std::max(seconds_since(t0), 1e-9) : 0;
    }

    // A bare Paho async subscriber that only counts.
    double paho_rate = 0;
    long paho_received = 0;
    {
        std::atomic<long> count{0};
        std::atomic<std::int64_t> last_ns{0};
        bus::ClientOptions co;
        co.uri = broker.uri();
        co.client_id = "bench-bare-paho";
        co.persistent_session = false;
        co.subscriptions = {{topic, 0}};
        bus::MqttClient bare(co, [&](bus::Received) {
            ++count;
            last_ns = Clock::now().time_since_epoch().count();
        });
        bare.start();
        bare.wait_connected(10s);
        std::this_thread::sleep_for(300ms);
        const auto t0 = Clock::now();
        std::system(publish.c_str());
        long seen = -1;
        while (count.load() != seen) {  // until it stops receiving
            seen = count.load();
            std::this_thread::sleep_for(300ms);
        }
        paho_received = count.load();
        const double secs =
            std::chrono::duration<double>(Clock::time_point(Clock::duration(last_ns.load())) - t0)
                .count();
        paho_rate = static_cast<double>(paho_received) / secs;
    }

    // The scheduler: the same stream, each message parsed, validated, de-duplicated.
    harness::Process scheduler({harness::scheduler_binary(), "--broker", broker.uri(), "--profile",
                                profile, "--sim-start", "2026-11-25 06:00:00", "--sim-speed", "1"},
                               dir + "/scheduler.log");
    // Requests only: this client must not receive the flood itself.
    harness::Probe probe(broker.uri(), "bench-probe", contract::replies_topic("bench-probe"));
    contract::SchedulerRequest ping;
    ping.op = contract::RequestOp::ClockGet;
    while (!probe.request(ping, 1s).ok) {
    }
    double scheduler_rate = 0;
    long scheduler_received = 0;
    {
        const long before = stats(probe)["messages"].get<long>();
        const auto t0 = Clock::now();
        std::system(publish.c_str());
        // Each stats request is itself a message: the telemetry processed is the count less
        // the requests (this one included).
        long polls = 0;
        long seen = -1;
        auto last_change = Clock::now();
        while (true) {
            const long processed = stats(probe)["messages"].get<long>() - before - ++polls;
            if (processed != seen) {
                seen = processed;
                last_change = Clock::now();
            } else if (Clock::now() - last_change > 500ms) {
                break;
            }
            std::this_thread::sleep_for(5ms);
        }
        scheduler_received = seen;
        scheduler_rate = static_cast<double>(scheduler_received) /
                         std::chrono::duration<double>(last_change - t0).count();
    }
    std::printf("\n1. one telemetry stream of %d QoS 0 messages (~240 bytes)\n", o.flood);
    std::printf("   %-34s %10.0f msg/s\n", "broker + mosquitto_sub (C)", broker_rate);
    std::printf("   %-34s %10.0f msg/s  (%ld received)\n", "bare Paho C++ async subscriber",
                paho_rate, paho_received);
    std::printf("   %-34s %10.0f msg/s  (%ld processed)  = %.0f %% of bare Paho\n",
                "station-scheduler", scheduler_rate, scheduler_received,
                100.0 * scheduler_rate / paho_rate);

    // ---- 2. N piles at 1 Hz, half of them charging -------------------------------------
    harness::Probe monitor(broker.uri(), "bench-monitor",
                           std::string(contract::kRoot) + "/piles/+/+");  // events, commands
    harness::Process sim({harness::pile_sim_binary(), "--broker", broker.uri(), "--profile",
                          profile, "--telemetry-hz", "1"},
                         dir + "/pile-sim.log");
    // Wait until every pile is online, then put a long session on half of them.
    harness::Probe::eventually(
        [&] {
            contract::SchedulerRequest r;
            r.op = contract::RequestOp::State;
            const auto s = probe.request(r, 5s);
            if (!s.ok) {
                return false;
            }
            for (const auto& p : s.data["piles"]) {
                if (p["state"] == "FAULT") {
                    return false;
                }
            }
            return true;
        },
        60s);
    const int fast = o.piles / 3;
    int submitted = 0;
    for (int i = 0; i < o.piles; i += 2) {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::Submit;
        r.car = "bench-" + std::to_string(i);
        r.mode = i < fast ? station::Mode::Fast : station::Mode::Slow;
        r.kwh = 5000;  // charges for the whole benchmark
        submitted += probe.request(r, 5s).ok;
    }
    std::this_thread::sleep_for(3s);
    const Usage u0 = usage_of(scheduler.pid());
    const long m0 = stats(probe)["messages"].get<long>();
    const auto w0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(o.window_s));
    const Usage u1 = usage_of(scheduler.pid());
    const long m1 = stats(probe)["messages"].get<long>();
    const double window = seconds_since(w0);
    std::printf("\n2. %d simulated piles at 1 Hz telemetry, %d charging, over %.0f s\n", o.piles,
                submitted, window);
    std::printf(
        "   scheduler: %.0f msg/s processed, CPU %.1f %% of one core, RSS %.1f MB (peak %.1f MB)\n",
        static_cast<double>(m1 - m0) / window, 100.0 * (u1.cpu_s - u0.cpu_s) / window,
        static_cast<double>(u1.rss_kb) / 1024.0, static_cast<double>(u1.hwm_kb) / 1024.0);

    // ---- 3. fault report -> re-dispatch command ------------------------------------------
    // A charging pile is told to fault; its fault report and the start command that sends
    // its car elsewhere are both timed where a monitor sees them, on the bus. The car
    // lands on an idle pile, which is the next one faulted.
    std::vector<double> latencies;
    std::string pile = "T" + std::to_string(1);  // bench-<fast> (first slow car) is on T1
    for (int i = 0; i < o.faults; ++i) {
        const auto from = monitor.mark();
        contract::PileCommand inject;
        inject.id = "bench-fault-" + std::to_string(i);
        inject.type = contract::CommandType::InjectFault;
        monitor.publish(contract::pile_topic(pile, contract::PileChannel::Commands),
                        contract::to_json(inject));
        const auto report = monitor.wait_for(
            [&](const harness::Message& m) {
                return m.topic == contract::pile_topic(pile, contract::PileChannel::Events) &&
                       m.payload.find("fault_raised") != std::string::npos;
            },
            from, 10s);
        const auto redispatch = monitor.wait_for(
            [&](const harness::Message& m) {
                const auto pt = contract::parse_pile_topic(m.topic);
                return pt && pt->channel == contract::PileChannel::Commands && pt->pile != pile &&
                       m.payload.find("\"type\":\"start\"") != std::string::npos;
            },
            from, 10s);
        if (!report || !redispatch) {
            std::printf("   fault %d on %s: no %s seen\n", i, pile.c_str(),
                        report ? "re-dispatch" : "report");
            break;
        }
        latencies.push_back(
            std::chrono::duration<double, std::milli>(redispatch->at - report->at).count());
        contract::PileCommand clear;
        clear.id = "bench-clear-" + std::to_string(i);
        clear.type = contract::CommandType::ClearFault;
        monitor.publish(contract::pile_topic(pile, contract::PileChannel::Commands),
                        contract::to_json(clear));
        pile = contract::parse_pile_topic(redispatch->topic)->pile;
        std::this_thread::sleep_for(20ms);
    }
    std::printf("\n3. fault report -> re-dispatch command, %zu faults, as seen on the bus\n",
                latencies.size());
    std::printf("   p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", percentile(latencies, 0.5),
                percentile(latencies, 0.99),
                latencies.empty() ? 0.0 : *std::max_element(latencies.begin(), latencies.end()));
    const Usage u2 = usage_of(scheduler.pid());
    std::printf("\nscheduler peak RSS over the whole run: %.1f MB\n",
                static_cast<double>(u2.hwm_kb) / 1024.0);
    return 0;
}

// station-replay: plays a scenario through the station core (scenario-format.md).
// Exit codes: 0 played; 1 malformed scenario or profile; 2 bad usage or unreadable file.

#include <cstring>
#include <iostream>
#include <string>

#include "cli/cli.hpp"
#include "replay/replay.hpp"
#include "replay/scenario.hpp"
#include "station/profile.hpp"

namespace {

constexpr const char* kUsage =
    "usage: station-replay [--profile NAME|FILE] [--candidates best|free]\n"
    "                      [--fault-strategy priority|time-order] [--fault-pause all|mode]\n"
    "                      [--final-only] [--table] SCENARIO_FILE\n"
    "       station-replay [--profile NAME|FILE] --list-piles\n"
    "\n"
    "Plays a scenario through the station core and prints one JSON line per event time,\n"
    "then a final line with every order's bills (scenario-format.md). --table prints the\n"
    "course sheet's row notation instead. Built-in profiles: bupt-2023 (default),\n"
    "acceptance-42, g8; any other value is read as a JSON profile file. SCENARIO_FILE may\n"
    "be - for standard input. --list-piles prints the profile's piles, one \"ID MODE\n"
    "POWER_KW\" line each, and plays nothing.\n";

int usage_error(const std::string& message) {
    return cli::usage_error("station-replay", kUsage, message);
}

}  // namespace

int main(int argc, char** argv) {
    std::string profile_arg(station::kDefaultProfile);
    std::string candidates;
    std::string strategy;
    std::string pause;
    std::string scenario_path;
    replay::ReplayOptions options;
    bool list_piles = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&](std::string& into) {
            if (i + 1 >= argc) {
                return false;
            }
            into = argv[++i];
            return true;
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return 0;
        }
        if (arg == "--profile" || arg == "--candidates" || arg == "--fault-strategy" ||
            arg == "--fault-pause") {
            std::string& target = arg == "--profile"          ? profile_arg
                                  : arg == "--candidates"     ? candidates
                                  : arg == "--fault-strategy" ? strategy
                                                              : pause;
            if (!value(target)) {
                return usage_error(arg + " needs a value");
            }
        } else if (arg == "--list-piles") {
            list_piles = true;
        } else if (arg == "--final-only") {
            options.final_only = true;
        } else if (arg == "--table") {
            options.format = replay::OutputFormat::Table;
        } else if (arg.size() > 1 && arg[0] == '-' && arg != "-") {
            return usage_error("unknown option " + arg);
        } else if (scenario_path.empty()) {
            scenario_path = arg;
        } else {
            return usage_error("only one scenario file may be given");
        }
    }
    if (scenario_path.empty() && !list_piles) {
        return usage_error("no scenario file given");
    }

    auto [profile, profile_error, malformed] = cli::load_profile(profile_arg);
    if (!profile) {
        if (malformed) {
            std::cerr << "station-replay: " << profile_error << "\n";
            return 1;
        }
        return usage_error(profile_error);
    }
    if (list_piles) {  // for scripts (deploy/run.sh): "ID MODE POWER_KW" per pile
        for (const station::PileSpec& pile : profile->piles) {
            std::cout << pile.id << ' ' << station::mode_letter(pile.mode) << ' ' << pile.power
                      << '\n';
        }
        return 0;
    }
    if (!candidates.empty()) {
        const auto c = station::parse_candidates(candidates);
        if (!c) {
            return usage_error("--candidates takes best or free");
        }
        profile->policy.candidates = *c;
    }
    if (!strategy.empty()) {
        const auto s = station::parse_fault_strategy(strategy);
        if (!s) {
            return usage_error("--fault-strategy takes priority or time-order");
        }
        profile->policy.fault_strategy = *s;
    }
    if (!pause.empty()) {
        const auto p = station::parse_fault_pause(pause);
        if (!p) {
            return usage_error("--fault-pause takes all or mode");
        }
        profile->policy.fault_pause = *p;
    }

    std::string text;
    if (!cli::read_file(scenario_path, text)) {
        std::cerr << "station-replay: cannot read " << scenario_path << ": " << std::strerror(errno)
                  << "\n";
        return 2;
    }
    // A malformed scenario must print nothing but the error. With snapshots, a first pass
    // checks the whole file before any is printed; --final-only prints only at the end, so
    // the replay itself finds any error first.
    auto result = options.final_only ? replay::ReplayResult{} : replay::validate_scenario(text);
    if (result.ok()) {
        std::ios::sync_with_stdio(false);
        result = replay::run_replay(*profile, text, options, std::cout, std::cerr);
    }
    if (!result.ok()) {
        std::cerr << "station-replay: " << scenario_path << ":" << result.error_line << ": "
                  << result.error << "\n";
        return 1;
    }
    std::cout.flush();
    if (!std::cout) {
        std::cerr << "station-replay: writing the output failed\n";
        return 2;
    }
    return 0;
}

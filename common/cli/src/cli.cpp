#include "cli/cli.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace cli {

namespace {
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) {
    g_stop = 1;
}
}  // namespace

int usage_error(const std::string& program, const std::string& usage, const std::string& message) {
    std::cerr << program << ": " << message << "\n" << usage;
    return 2;
}

std::optional<int> parse_options(
    int argc, char** argv, const std::string& program, const std::string& usage,
    const std::function<bool(const std::string&, const std::string&)>& on_option) {
    auto fail = [&](const std::string& message) { return usage_error(program, usage, message); };
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << usage;
            return 0;
        }
        if (i + 1 >= argc) {
            return fail("unknown option or missing value: " + arg);
        }
        const std::string value = argv[++i];
        try {
            if (!on_option(arg, value)) {
                return fail("unknown option " + arg);
            }
        } catch (const std::exception& e) {
            return fail("bad value for " + arg + ": " + value +
                        (e.what()[0] ? std::string(" (") + e.what() + ")" : ""));
        }
    }
    return std::nullopt;
}

bool read_file(const std::string& path, std::string& out) {
    if (path == "-") {
        std::ostringstream ss;
        ss << std::cin.rdbuf();
        out = ss.str();
        return true;
    }
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) {
        return false;
    }
    const std::streamoff size = in.tellg();
    if (size < 0) {
        return false;
    }
    out.resize(static_cast<std::size_t>(size));
    in.seekg(0);
    return static_cast<bool>(in.read(out.data(), size));
}

ProfileLoad load_profile(const std::string& name_or_path) {
    ProfileLoad r;
    r.profile = station::builtin_profile(name_or_path);
    if (r.profile) {
        return r;
    }
    std::string text;
    if (!read_file(name_or_path, text)) {
        r.error = "'" + name_or_path + "' is neither a built-in profile nor a readable file";
        return r;
    }
    auto parsed = station::parse_profile_json(text);
    if (!parsed.profile) {
        r.error = name_or_path + ": bad profile: " + parsed.error;
        r.malformed = true;
    }
    r.profile = std::move(parsed.profile);
    return r;
}

std::string mark_metered(station::Profile& profile, const std::string& list) {
    if (list.empty()) {
        return "";
    }
    if (list == "all") {
        for (station::PileSpec& pile : profile.piles) {
            pile.metered = true;
        }
        return "";
    }
    std::size_t from = 0;
    while (from <= list.size()) {
        const std::size_t comma = std::min(list.find(',', from), list.size());
        const std::string id = list.substr(from, comma - from);
        const auto it = std::find_if(profile.piles.begin(), profile.piles.end(),
                                     [&](const station::PileSpec& p) { return p.id == id; });
        if (it == profile.piles.end()) {
            return "no pile \"" + id + "\" in profile " + profile.name;
        }
        it->metered = true;
        from = comma + 1;
    }
    return "";
}

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void install_stop_handlers() {
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
}

bool stop_requested() {
    return g_stop != 0;
}

}  // namespace cli

#include "cli/cli.hpp"

#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

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

std::string broker_ca_file(std::string& path) {
    path = env("STATION_MQTT_CA_FILE");
    if (path.empty()) {
        return "";
    }
    std::string pem;
    if (!read_file(path, pem)) {
        return "cannot read STATION_MQTT_CA_FILE " + path;
    }
    if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
        return "STATION_MQTT_CA_FILE " + path + " holds no PEM certificate";
    }
    return "";
}

std::string secrets_from_files(std::initializer_list<const char*> names) {
    for (const char* name : names) {
        const std::string file_var = std::string(name) + "_FILE";
        const std::string path = env(file_var.c_str());
        if (path.empty()) {
            continue;
        }
        if (std::getenv(name) != nullptr) {
            return std::string("both ") + name + " and " + file_var + " are set: give one";
        }
        std::string value;
        if (!read_file(path, value)) {
            return file_var + ": cannot read " + path;
        }
        if (!value.empty() && value.back() == '\n') {
            value.pop_back();
            if (!value.empty() && value.back() == '\r') {
                value.pop_back();
            }
        }
        if (value.empty()) {
            return file_var + ": " + path + " is empty";
        }
        if (::setenv(name, value.c_str(), 1) != 0) {
            return std::string("cannot set ") + name;
        }
    }
    return "";
}

std::string format_log_line(std::string_view program, std::string_view level,
                            std::string_view message, bool journal) {
    std::string line;
    if (journal) {
        const char* priority = level == "error"   ? "<3>"
                               : level == "warn"  ? "<4>"
                               : level == "info"  ? "<6>"
                               : level == "debug" ? "<7>"
                                                  : "<5>";
        line += priority;
    }
    line.append(program).append(" ").append(level).append(": ").append(message);
    // One entry per line in the journal: a message's own line feeds must not start new ones.
    for (std::size_t i = line.size() - message.size(); i < line.size(); ++i) {
        if (line[i] == '\n') {
            line[i] = ' ';
        }
    }
    line += '\n';
    return line;
}

bool stderr_is_journal() {
    static const bool journal = [] {
        const std::string stream = env("JOURNAL_STREAM");
        const auto colon = stream.find(':');
        struct stat st {};
        if (colon == std::string::npos || ::fstat(STDERR_FILENO, &st) != 0) {
            return false;
        }
        try {
            return std::stoull(stream.substr(0, colon)) ==
                       static_cast<unsigned long long>(st.st_dev) &&
                   std::stoull(stream.substr(colon + 1)) ==
                       static_cast<unsigned long long>(st.st_ino);
        } catch (const std::exception&) {
            return false;
        }
    }();
    return journal;
}

void notify_ready(const std::string& status) {
    ::sd_notify(0, ("READY=1\nSTATUS=" + status).c_str());
}

void notify_status(const std::string& status) {
    ::sd_notify(0, ("STATUS=" + status).c_str());
}

void log_line(std::string_view program, std::string_view level, std::string_view message) {
    const std::string line = format_log_line(program, level, message, stderr_is_journal());
    std::cerr.write(line.data(), static_cast<std::streamsize>(line.size()));
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

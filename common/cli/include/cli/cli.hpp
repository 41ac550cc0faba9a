#pragma once
/// @file What every command of the project does the same way: read a profile given by
/// name or file, read a whole file, read the wall clock, stop on SIGINT/SIGTERM.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "station/profile.hpp"

namespace cli {

/// A profile given on a command line.
struct ProfileLoad {
    std::optional<station::Profile> profile;
    std::string error;       ///< why there is none
    bool malformed = false;  ///< the file was read but is not a valid profile
};
/// A built-in profile by name, or else a JSON profile file.
ProfileLoad load_profile(const std::string& name_or_path);

/// Marks piles of `profile` metered (station::PileSpec::metered): `list` is "" (none),
/// "all", or pile ids separated by commas. Returns "" or what is wrong (an unknown id).
std::string mark_metered(station::Profile& profile, const std::string& list);

/// Prints "PROGRAM: MESSAGE" and the usage text to stderr; returns 2, the usage-error exit.
int usage_error(const std::string& program, const std::string& usage, const std::string& message);

/// Reads "--name value" options. `on_option` applies one and returns false for an unknown
/// name; it may throw std::exception for a bad value. Returns nullopt to go on, or the
/// exit status to end with (0 after --help, 2 after a usage error, both printed).
std::optional<int> parse_options(
    int argc, char** argv, const std::string& program, const std::string& usage,
    const std::function<bool(const std::string&, const std::string&)>& on_option);

/// Reads a whole file ("-" = standard input); false if it cannot be read.
bool read_file(const std::string& path, std::string& out);

/// An environment variable's value, "" if unset.
std::string env(const char* name);

/// Wall-clock UTC milliseconds since the epoch.
std::int64_t wall_ms();

/// Installs SIGINT/SIGTERM handlers that make stop_requested() true.
void install_stop_handlers();
bool stop_requested();

}  // namespace cli

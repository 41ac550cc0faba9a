#pragma once
/// @file What every command of the project does the same way: read a profile given by
/// name or file, read a whole file, read the wall clock, stop on SIGINT/SIGTERM.

#include <cstdint>
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

/// Reads a whole file ("-" = standard input); false if it cannot be read.
bool read_file(const std::string& path, std::string& out);

/// Wall-clock UTC milliseconds since the epoch.
std::int64_t wall_ms();

/// Installs SIGINT/SIGTERM handlers that make stop_requested() true.
void install_stop_handlers();
bool stop_requested();

}  // namespace cli

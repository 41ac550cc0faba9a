#pragma once
/// @file What every command of the project does the same way: read a profile given by
/// name or file, read a whole file, read the wall clock, stop on SIGINT/SIGTERM.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

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

/// The certificate authorities an `ssl://` broker's certificate must chain to: the PEM
/// file STATION_MQTT_CA_FILE names, set into `path` ("" when unset: the system's store).
/// Returns "" or why the file cannot be used (unreadable, or no PEM certificate in it).
std::string broker_ca_file(std::string& path);

/// Secrets from files: for each NAME given, NAME_FILE (when set) names a file whose content
/// (one trailing line feed dropped) becomes NAME's value, so that a secret need not sit in
/// a unit's environment (systemd's LoadCredential=, a container's secret file). Setting
/// both NAME and NAME_FILE, or a file that cannot be read or is empty, is an error. Call it
/// first in main, before any thread starts (it sets the environment). Returns "" or what
/// is wrong.
std::string secrets_from_files(std::initializer_list<const char*> names);

/// "PROGRAM LEVEL: MESSAGE\n"; with `journal`, led by the level's syslog priority (<3>
/// error, <4> warn, <6> info, <7> debug, <5> otherwise), which journald takes as the
/// entry's priority and strips.
std::string format_log_line(std::string_view program, std::string_view level,
                            std::string_view message, bool journal);
/// Whether stderr is the systemd journal (JOURNAL_STREAM names its device and inode).
bool stderr_is_journal();
/// Tells systemd the service is ready (Type=notify), with a one-line status; nothing when
/// not started by systemd (no NOTIFY_SOCKET).
void notify_ready(const std::string& status);
/// Tells systemd the service's status in one line (`systemctl status` shows it).
void notify_status(const std::string& status);
/// Writes format_log_line(…, stderr_is_journal()) to stderr in one write.
void log_line(std::string_view program, std::string_view level, std::string_view message);

/// Wall-clock UTC milliseconds since the epoch.
std::int64_t wall_ms();

/// Installs SIGINT/SIGTERM handlers that make stop_requested() true.
void install_stop_handlers();
bool stop_requested();

}  // namespace cli

#pragma once
/// @file Station profiles: the piles, the waiting area, queue length and policies
/// (station-rules §1), built in or read from a JSON file (scenario-format "Profile file").

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "station/tariff.hpp"
#include "station/types.hpp"

namespace station {

/// One charging pile as configured.
struct PileSpec {
    std::string id;    ///< e.g. "F1"; valid_pile_id
    std::string name;  ///< display name, e.g. "快充1"; defaults to the id
    Mode mode = Mode::Fast;
    double power = 0;  ///< kWh per hour, > 0
    /// A metered pile (a real charger, e.g. behind station-gateway) ends its sessions
    /// itself when its meter reaches the amount, and the bill is what its meter measured
    /// (Station::end_metered); the station's model (power × time) only estimates when.
    /// An unmetered pile's session ends when the model says the amount is delivered.
    bool metered = false;
};

/// §3: which piles a called car may go to.
enum class Candidates : std::uint8_t { Best, Free };
/// §5: how a fault's displaced cars are ordered.
enum class FaultStrategy : std::uint8_t { Priority, TimeOrder };
/// §5: which waiting-area calls pause while a re-dispatch group is not empty.
enum class FaultPause : std::uint8_t { All, Mode };

/// The policy parameters; defaults as in station-rules §1.
struct Policy {
    Candidates candidates = Candidates::Best;
    FaultStrategy fault_strategy = FaultStrategy::Priority;
    FaultPause fault_pause = FaultPause::All;
};

/// A whole station configuration.
struct Profile {
    std::string name;
    int waiting_area = 0;         ///< N, >= 1
    int queue_length = 0;         ///< M, >= 1
    std::vector<PileSpec> piles;  ///< in station order
    Policy policy;
    Tariff tariff = Tariff::standard();
};

/// The built-in profiles by name (`bupt-2023`, `acceptance-42`, `g8`).
std::optional<Profile> builtin_profile(std::string_view name);
/// Names of the built-in profiles, the default first.
std::vector<std::string_view> builtin_profile_names();
inline constexpr std::string_view kDefaultProfile = "bupt-2023";

/// Whether `id` may name a pile: 1 to 64 bytes, no blanks or control characters (NUL,
/// DEL included), and none of / + # (it is a level of the bus's topics) nor , ( ) (it is a
/// field of a scenario's tuples).
bool valid_pile_id(std::string_view id);

/// Checks a profile's invariants; returns the first problem, or "" if it is valid.
std::string validate_profile(const Profile& profile);

/// Result of reading a profile file.
struct ProfileParse {
    std::optional<Profile> profile;
    std::string error;  ///< reason when `profile` is empty
};
/// Reads the JSON profile format of scenario-format.md (plus an optional `tariff`
/// object, see docs/decisions.md). Never throws.
ProfileParse parse_profile_json(std::string_view text);

std::optional<Candidates> parse_candidates(std::string_view s);
std::optional<FaultStrategy> parse_fault_strategy(std::string_view s);
std::optional<FaultPause> parse_fault_pause(std::string_view s);

}  // namespace station

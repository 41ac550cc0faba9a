#pragma once
/// @file The broker passwords piles log in with. Each pile logs in to the station's broker
/// as its pile id. Its password comes from the file STATION_PILE_PASSWORDS_FILE names, one
/// password per pile, so that a charger's secret opens no other pile's account. Older
/// installs give every pile the same STATION_MQTT_PASSWORD. Without either, piles connect
/// without logging in (a development broker). Used by station-pile-sim and
/// station-gateway.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace cli {

struct PilePasswords {
    std::map<std::string, std::string, std::less<>> by_pile;  ///< from the file
    std::string shared;  ///< STATION_MQTT_PASSWORD, when there is no file
    /// The password `pile` logs in with; "" = it does not log in.
    std::string of(std::string_view pile) const;
};

/// Reads the file's text: one "PILE PASSWORD" per line (the first blank separates them;
/// a pile id has none), '#' lines and blank lines skipped. A pile named twice, a line
/// without a password, or none at all is an error. Returns "" or what is wrong, with its
/// line number (never the password).
std::string parse_pile_passwords(std::string_view text,
                                 std::map<std::string, std::string, std::less<>>& out);

/// The passwords as the environment gives them: STATION_PILE_PASSWORDS_FILE (every one of
/// `piles` must have a password in it) or STATION_MQTT_PASSWORD; both set is an error.
/// Returns "" or what is wrong.
std::string load_pile_passwords(const std::vector<std::string>& piles, PilePasswords& out);

}  // namespace cli

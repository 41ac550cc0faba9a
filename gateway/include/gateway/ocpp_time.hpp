#pragma once
/// @file OCPP's `dateTime` (RFC 3339 / ISO 8601, e.g. "2026-11-25T08:03:51.123Z" or with an
/// offset "+08:00") to and from UTC milliseconds since the epoch.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gateway {

/// UTC ms of an OCPP dateTime; nullopt if malformed or out of range. Fractions of a second
/// beyond milliseconds are dropped; "Z", "+hh:mm", "-hh:mm" (or "+hhmm") are taken.
std::optional<std::int64_t> parse_ocpp_time(std::string_view text);
/// "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string format_ocpp_time(std::int64_t utc_ms);

}  // namespace gateway

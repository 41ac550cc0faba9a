#pragma once
// Internal: the consistency checks of Station::from_image that need only the image and the
// profile (the rest, which needs the built station, is in station.cpp).

#include <optional>
#include <string>

#include "station/image.hpp"
#include "station/profile.hpp"

namespace station::detail {

/// Times in an image must lie within ±kImageTimeLimit ms of the epoch (±285,000 years),
/// and every charging duration an image implies must be shorter: sums of a few of them
/// then cannot overflow.
inline constexpr TimeMs kImageTimeLimit = TimeMs{1} << 53;

/// duration_for(kwh, power) when it is finite and within kImageTimeLimit, else nullopt.
std::optional<TimeMs> bounded_duration(double kwh, double power);

/// The first reason `image` is not a state a station with `profile` can be in, or "".
std::string image_problem(const Profile& profile, const StationImage& image);

}  // namespace station::detail

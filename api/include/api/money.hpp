#pragma once
/// @file Money in the API: whole cents (分) in every record, stored row, sum and
/// settlement, so that no total drifts by a binary fraction. Yuan appear only at the two
/// edges: an amount the scheduler reports (its contract carries yuan, docs/asyncapi.yaml)
/// becomes cents once, on the way in (`to_cents`), and cents become the yuan number of an
/// answer (docs/openapi.yaml) on the way out (`yuan`).

#include <cstdint>

namespace api {

/// An amount of money in whole cents (1 yuan = 100).
using Cents = std::int64_t;

/// Whole cents of a yuan amount, rounded half up as the station rounds what it shows
/// (contract::cents, docs/station-rules.md §7). Values beyond contract::kMaxYuan are never
/// passed: the contract refuses them on the way in.
Cents to_cents(double yuan);

/// The yuan amount of `cents` as a JSON number: the double nearest to cents / 100, which
/// prints with at most two decimals.
double yuan(Cents cents);

}  // namespace api

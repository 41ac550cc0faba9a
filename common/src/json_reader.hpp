#pragma once
// Strict reading of one JSON object of the contract (a DOM, for the nested documents):
// typed fields, required unless said otherwise, ranges checked, the first problem kept.
// Every accessor does nothing after a failure, so parsers read straight through.

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "contract/topics.hpp"
#include "station/types.hpp"

namespace contract::detail {

/// Station times from 1970 to the year 9999.
inline constexpr std::int64_t kMaxTime = 253402300799999;
inline constexpr std::int64_t kMaxId = std::numeric_limits<std::int32_t>::max();
inline constexpr std::int64_t kMaxPos = std::numeric_limits<std::int64_t>::max() / 2;

class JsonReader {
  public:
    JsonReader(const nlohmann::json& j, std::string where) : j_(j), where_(std::move(where)) {
        if (!j_.is_object()) {
            error_ = where_ + " must be a JSON object";
        }
    }
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }
    bool has(const char* key) const {
        if (!ok()) {
            return false;
        }
        const auto it = j_.find(key);
        return it != j_.end() && !it->is_null();
    }
    const nlohmann::json* field(const char* key) {
        if (!ok()) {
            return nullptr;
        }
        const auto it = j_.find(key);
        if (it == j_.end() || it->is_null()) {
            fail(key, "present");
            return nullptr;
        }
        return &*it;
    }

    void text(const char* key, std::string& out, std::size_t max = 256) {
        const auto* v = field(key);
        if (v == nullptr) {
            return;
        }
        if (!v->is_string()) {
            fail(key, "a string");
            return;
        }
        out = v->get<std::string>();
        check(out.size() <= max, key, "shorter");
    }
    /// An id usable in a topic level; `may_be_empty` allows "".
    void id(const char* key, std::string& out, bool may_be_empty = false) {
        text(key, out, 64);
        if (ok() && !(may_be_empty && out.empty()) && !valid_topic_id(out)) {
            fail(key, "an id without '/', '+', '#' or blanks");
        }
    }
    void integer(const char* key, std::int64_t& out, std::int64_t lo, std::int64_t hi) {
        const auto* v = field(key);
        if (v == nullptr) {
            return;
        }
        if (v->is_number_integer() &&
            !(v->is_number_unsigned() &&
              v->get<std::uint64_t>() >
                  static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
            out = v->get<std::int64_t>();
            check(out >= lo && out <= hi, key, "within its range");
            return;
        }
        fail(key, "an integer");
    }
    void number(const char* key, double& out, double lo, double hi) {
        const auto* v = field(key);
        if (v == nullptr) {
            return;
        }
        if (!v->is_number()) {
            fail(key, "a number");
            return;
        }
        out = v->get<double>();
        check(std::isfinite(out) && out >= lo && out <= hi, key,
              "a finite number within its range");
    }
    void flag(const char* key, bool& out) {
        const auto* v = field(key);
        if (v == nullptr) {
            return;
        }
        if (!v->is_boolean()) {
            fail(key, "true or false");
            return;
        }
        out = v->get<bool>();
    }
    /// "F" or "T".
    void mode(const char* key, station::Mode& out) {
        std::string letter;
        text(key, letter, 1);
        const auto parsed = station::parse_mode(letter);
        check(parsed.has_value(), key, "\"F\" or \"T\"");
        out = parsed.value_or(station::Mode::Fast);
    }
    /// A queue number as the station shows it: the mode's letter and a counter.
    void queue_number(const char* key, std::string& out, station::Mode mode) {
        text(key, out, 12);
        check(out.size() >= 2 && out[0] == station::mode_letter(mode) &&
                  out.find_first_not_of("0123456789", 1) == std::string::npos,
              key, "the mode's letter and a counter");
    }
    void check(bool condition, const char* key, const char* what) {
        if (ok() && !condition) {
            fail(key, what);
        }
    }
    void fail(const char* key, const char* what) {
        if (ok()) {
            error_ = where_ + ": field \"" + key + "\" must be " + what;
        }
    }

  private:
    const nlohmann::json& j_;
    std::string where_;
    std::string error_;
};

}  // namespace contract::detail

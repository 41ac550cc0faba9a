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

namespace contract::detail {

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

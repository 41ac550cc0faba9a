#pragma once
// Typed reading of the flat JSON objects of the contract (every bus message but the
// nested documents): the top-level fields are collected with nlohmann's SAX parser, then
// read by type, required unless said otherwise, the first problem kept.

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "contract/topics.hpp"

namespace contract::detail {

using nlohmann::json;

inline constexpr std::size_t kMaxPayload = 64 * 1024;
inline constexpr std::size_t kMaxReplyPayload = kMaxPublishBytes;

// One top-level field of a payload. Nested objects and arrays are only marked: no bus
// message but a reply's `data` has any, and that one is read separately.
struct Value {
    enum class Kind { Null, Bool, Int, Uint, Float, String, Nested } kind = Kind::Null;
    bool b = false;
    std::int64_t i = 0;
    std::uint64_t u = 0;
    double d = 0;
    std::string s;
};

// Collects the top-level fields with nlohmann's SAX parser: every message on a busy bus
// goes through here, and a DOM costs a map node and a value allocation per field.
class FlatSax : public nlohmann::json_sax<json> {
  public:
    std::vector<std::pair<std::string, Value>> fields;
    bool top_is_object = false;

    bool null() override { return put(Value{}); }
    bool boolean(bool v) override {
        Value x;
        x.kind = Value::Kind::Bool;
        x.b = v;
        return put(std::move(x));
    }
    bool number_integer(json::number_integer_t v) override {
        Value x;
        x.kind = Value::Kind::Int;
        x.i = v;
        return put(std::move(x));
    }
    bool number_unsigned(json::number_unsigned_t v) override {
        Value x;
        x.kind = Value::Kind::Uint;
        x.u = v;
        return put(std::move(x));
    }
    bool number_float(json::number_float_t v, const json::string_t&) override {
        Value x;
        x.kind = Value::Kind::Float;
        x.d = v;
        return put(std::move(x));
    }
    bool string(json::string_t& v) override {
        Value x;
        x.kind = Value::Kind::String;
        x.s = std::move(v);
        return put(std::move(x));
    }
    bool binary(json::binary_t&) override { return put(nested()); }
    bool start_object(std::size_t) override { return open(true); }
    bool key(json::string_t& k) override {
        if (depth_ == 1) {
            key_ = std::move(k);
        }
        return true;
    }
    bool end_object() override {
        --depth_;
        return true;
    }
    bool start_array(std::size_t) override { return open(false); }
    bool end_array() override {
        --depth_;
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return false;
    }

  private:
    static Value nested() {
        Value x;
        x.kind = Value::Kind::Nested;
        return x;
    }
    bool open(bool object) {
        if (depth_ == 0) {
            top_is_object = object;
        } else if (depth_ == 1) {
            put(nested());
        }
        ++depth_;
        return true;
    }
    bool put(Value v) {
        if (depth_ == 1) {
            for (auto& [k, existing] : fields) {  // a repeated key: the last one holds
                if (k == key_) {
                    existing = std::move(v);
                    return true;
                }
            }
            fields.emplace_back(key_, std::move(v));
        }
        return true;
    }
    int depth_ = 0;
    std::string key_;
};

// Reads typed fields of one JSON object and keeps the first problem. Every accessor is
// safe to call after a failure (it then does nothing), so parsers read straight through.
class Fields {
  public:
    explicit Fields(std::string_view payload, std::size_t max_size = kMaxPayload) {
        if (payload.size() > max_size) {
            error_ = "payload larger than " + std::to_string(max_size / 1024) + " KiB";
            return;
        }
        FlatSax sax;
        sax.fields.reserve(16);
        const bool parsed = json::sax_parse(payload.begin(), payload.end(), &sax,
                                            json::input_format_t::json, /*strict=*/true);
        if (!parsed) {
            error_ = "not JSON";
        } else if (!sax.top_is_object) {
            error_ = "not a JSON object";
        }
        fields_ = std::move(sax.fields);
    }
    const std::string& error() const { return error_; }
    bool ok() const { return error_.empty(); }
    bool has(const char* key) const { return ok() && find(key) != nullptr; }

    void text(const char* key, std::string& out, bool required = true) {
        const Value* v = want(key, required);
        if (v == nullptr) {
            return;
        }
        if (v->kind != Value::Kind::String) {
            fail(key, "a string");
            return;
        }
        out = v->s;
        if (out.size() > 256) {
            fail(key, "at most 256 bytes");
        }
    }
    void id(const char* key, std::string& out, bool required = true) {
        text(key, out, required);
        if (ok() && (required || !out.empty()) && !valid_topic_id(out)) {
            fail(key, "an id without '/', '+', '#' or blanks");
        }
    }
    void number(const char* key, double& out, bool required = true) {
        const Value* v = want(key, required);
        if (v == nullptr) {
            return;
        }
        switch (v->kind) {
            case Value::Kind::Int:
                out = static_cast<double>(v->i);
                return;
            case Value::Kind::Uint:
                out = static_cast<double>(v->u);
                return;
            case Value::Kind::Float:
                if (std::isfinite(v->d)) {
                    out = v->d;
                    return;
                }
                break;
            default:
                break;
        }
        fail(key, "a number");
    }
    void integer(const char* key, std::int64_t& out, bool required = true) {
        const Value* v = want(key, required);
        if (v == nullptr) {
            return;
        }
        if (v->kind == Value::Kind::Int) {
            out = v->i;
        } else if (v->kind == Value::Kind::Uint &&
                   v->u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            out = static_cast<std::int64_t>(v->u);
        } else {
            fail(key, "an integer");
        }
    }
    void flag(const char* key, bool& out, bool required = true) {
        const Value* v = want(key, required);
        if (v == nullptr) {
            return;
        }
        if (v->kind != Value::Kind::Bool) {
            fail(key, "true or false");
            return;
        }
        out = v->b;
    }
    /// Whole minutes, 0 to 100000 (optional, 0 when absent).
    void minutes(const char* key, int& out) {
        std::int64_t v = 0;
        integer(key, v, false);
        check(v >= 0 && v <= 100000, key, "whole minutes between 0 and 100000");
        out = static_cast<int>(v);
    }
    void check(bool condition, const char* key, const char* what) {
        if (ok() && !condition) {
            fail(key, what);
        }
    }
    void fail(const char* key, const char* what) {
        if (ok()) {
            error_ = std::string("field \"") + key + "\" must be " + what;
        }
    }

  private:
    const Value* find(const char* key) const {
        for (const auto& [k, v] : fields_) {
            if (k == key) {
                return v.kind == Value::Kind::Null ? nullptr : &v;
            }
        }
        return nullptr;
    }
    const Value* want(const char* key, bool required) {
        if (!ok()) {
            return nullptr;
        }
        const Value* v = find(key);
        if (v == nullptr && required) {
            error_ = std::string("field \"") + key + "\" is missing";
        }
        return v;
    }

    std::vector<std::pair<std::string, Value>> fields_;
    std::string error_;
};

}  // namespace contract::detail

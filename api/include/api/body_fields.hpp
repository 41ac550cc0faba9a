#pragma once
/// @file Reading the fields of an untrusted JSON request body. Each getter records the
/// first problem as a Chinese message for the client; a field given as null counts as
/// absent (the API document: "不修改则传参为空（不是空串）").

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace api {

enum class Need { Required, Optional };

class BodyFields {
  public:
    explicit BodyFields(const nlohmann::json& body) : body_(body) {}

    /// A string of 1..max_chars characters (UTF-8 code points).
    std::optional<std::string> text(const char* key, Need need, std::size_t max_chars = 64);
    /// A finite JSON number.
    std::optional<double> number(const char* key, Need need);
    /// An id: a string of digits (or, leniently, a non-negative JSON integer).
    std::optional<std::int64_t> id(const char* key, Need need);
    /// An array of strings of 1..64 characters.
    std::optional<std::vector<std::string>> texts(const char* key, Need need,
                                                  std::size_t max_items = 1000);

    void fail(std::string message) {
        if (error_.empty()) {
            error_ = std::move(message);
        }
    }
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }

  private:
    const nlohmann::json* find(const char* key, Need need);

    const nlohmann::json& body_;
    std::string error_;
};

/// Parses an untrusted request body. A document that is not JSON, or that names a key twice
/// in one object (`{"amount":"1","amount":"999999"}`: readers disagree on which one
/// counts), is nullopt.
std::optional<nlohmann::json> parse_body(const std::string& text);

/// The account as stored and looked up: e-mail addresses are matched without regard to
/// case (ASCII letters lowered).
std::string normalize_account(std::string account);

/// Whether `account` is an e-mail address by the document's pattern
/// ^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$ (and at most 254 characters).
bool valid_account(const std::string& account);
/// Whether `password` has 1..32 characters (code points), as ^.{1,32}$ says.
bool valid_password(const std::string& password);
/// Number of UTF-8 code points; nullopt if `s` is not valid UTF-8 or has control characters.
std::optional<std::size_t> utf8_length(const std::string& s);
/// Parses a positive id written in decimal ("17"); nullopt otherwise.
std::optional<std::int64_t> parse_id(const std::string& s);

}  // namespace api

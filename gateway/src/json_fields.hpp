#pragma once
// Reads the fields of an OCPP payload with the checks of the OCPP 1.6 JSON schemas
// (required, type, enum, maxLength) and keeps the first violation found, with the
// CALLERROR code OCPP-J gives it. Internal to the gateway's core.

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/ocpp_messages.hpp"

namespace gateway::detail {

class FieldReader {
  public:
    /// `where` prefixes messages (e.g. "meterValue[0]."); `object` must outlive the reader.
    FieldReader(const nlohmann::json& object, std::string where = "");

    std::optional<std::string> string(const char* name, bool required, std::size_t max_length);
    std::optional<std::int64_t> integer(const char* name, bool required);
    /// An OCPP dateTime, as UTC ms.
    std::optional<std::int64_t> time(const char* name, bool required);
    std::optional<std::string> enumeration(const char* name, bool required,
                                           std::initializer_list<std::string_view> values);
    /// An array (of anything); checks only that it is one, and its size.
    const nlohmann::json* array(const char* name, bool required, std::size_t min_items = 0);
    /// An object; checks only that it is one.
    const nlohmann::json* object(const char* name, bool required);

    /// Records a violation found by the caller (the first one is kept).
    void fail(ErrorCode code, std::string message);
    bool ok() const { return !violation_; }
    const std::optional<Violation>& violation() const { return violation_; }

  private:
    const nlohmann::json* field(const char* name, bool required);
    /// A string field (`what` names the expected type in the violation), null if absent or
    /// not a string.
    const std::string* text(const char* name, bool required, const char* what);

    const nlohmann::json& object_;
    std::string where_;
    std::optional<Violation> violation_;
};

}  // namespace gateway::detail

#include "json_fields.hpp"

#include "gateway/ocpp_time.hpp"

namespace gateway::detail {

using nlohmann::json;

FieldReader::FieldReader(const json& object, std::string where)
    : object_(object), where_(std::move(where)) {
    if (!object_.is_object()) {
        fail(ErrorCode::FormationViolation,
             (where_.empty() ? std::string("the payload") : where_) + " is not a JSON object");
    }
}

void FieldReader::fail(ErrorCode code, std::string message) {
    if (!violation_) {
        violation_ = Violation{code, std::move(message)};
    }
}

const json* FieldReader::field(const char* name, bool required) {
    if (!object_.is_object()) {
        return nullptr;
    }
    const auto it = object_.find(name);
    if (it == object_.end()) {
        if (required) {
            fail(ErrorCode::OccurenceConstraintViolation,
                 "required field " + where_ + name + " is missing");
        }
        return nullptr;
    }
    return &*it;
}

const std::string* FieldReader::text(const char* name, bool required, const char* what) {
    const json* v = field(name, required);
    if (v == nullptr) {
        return nullptr;
    }
    if (!v->is_string()) {
        fail(ErrorCode::TypeConstraintViolation, where_ + name + " must be " + what);
        return nullptr;
    }
    return &v->get_ref<const std::string&>();
}

std::optional<std::string> FieldReader::string(const char* name, bool required,
                                               std::size_t max_length) {
    const std::string* s = text(name, required, "a string");
    if (s == nullptr) {
        return std::nullopt;
    }
    if (s->size() > max_length) {
        fail(ErrorCode::PropertyConstraintViolation,
             where_ + name + " is longer than " + std::to_string(max_length) + " characters");
        return std::nullopt;
    }
    return *s;
}

std::optional<std::int64_t> FieldReader::integer(const char* name, bool required) {
    const json* v = field(name, required);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (v->is_number_integer()) {
        return v->get<std::int64_t>();
    }
    fail(ErrorCode::TypeConstraintViolation, where_ + name + " must be an integer");
    return std::nullopt;
}

std::optional<std::int64_t> FieldReader::time(const char* name, bool required) {
    const std::string* s = text(name, required, "a dateTime string");
    if (s == nullptr) {
        return std::nullopt;
    }
    const auto t = parse_ocpp_time(*s);
    if (!t) {
        fail(ErrorCode::PropertyConstraintViolation,
             where_ + name + " is not an RFC 3339 date-time");
    }
    return t;
}

std::optional<std::string> FieldReader::enumeration(
    const char* name, bool required, std::initializer_list<std::string_view> values) {
    const std::string* s = text(name, required, "a string");
    if (s == nullptr) {
        return std::nullopt;
    }
    for (const auto value : values) {
        if (*s == value) {
            return *s;
        }
    }
    fail(ErrorCode::PropertyConstraintViolation,
         where_ + name + " has a value outside its enumeration");
    return std::nullopt;
}

const json* FieldReader::array(const char* name, bool required, std::size_t min_items) {
    const json* v = field(name, required);
    if (v == nullptr) {
        return nullptr;
    }
    if (!v->is_array()) {
        fail(ErrorCode::TypeConstraintViolation, where_ + name + " must be an array");
        return nullptr;
    }
    if (v->size() < min_items) {
        fail(ErrorCode::OccurenceConstraintViolation,
             where_ + name + " needs at least " + std::to_string(min_items) + " items");
        return nullptr;
    }
    return v;
}

const json* FieldReader::object(const char* name, bool required) {
    const json* v = field(name, required);
    if (v == nullptr) {
        return nullptr;
    }
    if (!v->is_object()) {
        fail(ErrorCode::TypeConstraintViolation, where_ + name + " must be an object");
        return nullptr;
    }
    return v;
}

}  // namespace gateway::detail

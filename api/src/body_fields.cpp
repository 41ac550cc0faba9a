#include "api/body_fields.hpp"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

namespace api {

using nlohmann::json;

std::optional<std::size_t> utf8_length(const std::string& s) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = 0;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                return std::nullopt;
            }
            len = 1;
        } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
            len = 2;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
        } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
            len = 4;
        } else {
            return std::nullopt;
        }
        if (i + len > s.size()) {
            return std::nullopt;
        }
        for (std::size_t k = 1; k < len; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) {
                return std::nullopt;
            }
        }
        i += len;
        ++count;
    }
    return count;
}

std::optional<json> parse_body(const std::string& text) {
    // The keys of each open object (an open array holds an empty set).
    std::vector<std::set<std::string>> open;
    struct Duplicate {};
    const json::parser_callback_t check = [&open](int, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
            case json::parse_event_t::array_start:
                open.emplace_back();
                break;
            case json::parse_event_t::object_end:
            case json::parse_event_t::array_end:
                open.pop_back();
                break;
            case json::parse_event_t::key: {
                auto& keys = open.back();
                const auto& key = parsed.get_ref<const std::string&>();
                if (!keys.insert(key).second) {
                    throw Duplicate{};
                }
                break;
            }
            case json::parse_event_t::value:
                break;
        }
        return true;
    };
    try {
        json j = json::parse(text, check, false);
        if (j.is_discarded()) {
            return std::nullopt;
        }
        return j;
    } catch (const Duplicate&) {
        return std::nullopt;
    }
}

std::string normalize_account(std::string account) {
    for (char& c : account) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return account;
}

bool valid_account(const std::string& account) {
    static const std::regex pattern(R"(^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$)");
    return account.size() <= 254 && std::regex_match(account, pattern);
}

bool valid_password(const std::string& password) {
    // ^.{1,32}$: any characters but line breaks.
    const auto n = utf8_length(password);
    return n && *n >= 1 && *n <= 32;
}

std::optional<std::int64_t> parse_id(const std::string& s) {
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    return std::stoll(s);
}

const json* BodyFields::find(const char* key, Need need) {
    const auto it = body_.find(key);
    if (it == body_.end() || it->is_null()) {
        if (need == Need::Required) {
            fail(std::string("缺少字段 ") + key);
        }
        return nullptr;
    }
    return &*it;
}

std::optional<std::string> BodyFields::text(const char* key, Need need, std::size_t max_chars) {
    const json* v = find(key, need);
    if (!v) {
        return std::nullopt;
    }
    if (!v->is_string()) {
        fail(std::string("字段 ") + key + " 必须是字符串");
        return std::nullopt;
    }
    std::string s = v->get<std::string>();
    const auto n = utf8_length(s);
    if (!n || *n == 0 || *n > max_chars) {
        fail(std::string("字段 ") + key + " 必须是 1 到 " + std::to_string(max_chars) +
             " 个字符的文本");
        return std::nullopt;
    }
    return s;
}

std::optional<double> BodyFields::number(const char* key, Need need) {
    const json* v = find(key, need);
    if (!v) {
        return std::nullopt;
    }
    if (!v->is_number() || !std::isfinite(v->get<double>())) {
        fail(std::string("字段 ") + key + " 必须是数字");
        return std::nullopt;
    }
    return v->get<double>();
}

std::optional<std::int64_t> BodyFields::id(const char* key, Need need) {
    const json* v = find(key, need);
    if (!v) {
        return std::nullopt;
    }
    std::optional<std::int64_t> id;
    if (v->is_string()) {
        id = parse_id(v->get<std::string>());
    } else if (v->is_number_unsigned()) {
        id = static_cast<std::int64_t>(std::min<std::uint64_t>(v->get<std::uint64_t>(), INT64_MAX));
    }
    if (!id) {
        fail(std::string("字段 ") + key + " 必须是编号（数字组成的字符串）");
    }
    return id;
}

std::optional<std::vector<std::string>> BodyFields::texts(const char* key, Need need,
                                                          std::size_t max_items) {
    const json* v = find(key, need);
    if (!v) {
        return std::nullopt;
    }
    if (!v->is_array() || v->size() > max_items) {
        fail(std::string("字段 ") + key + " 必须是字符串数组");
        return std::nullopt;
    }
    std::vector<std::string> out;
    for (const auto& item : *v) {
        if (!item.is_string() || item.get<std::string>().empty() ||
            item.get<std::string>().size() > 64) {
            fail(std::string("字段 ") + key + " 必须是字符串数组");
            return std::nullopt;
        }
        out.push_back(item.get<std::string>());
    }
    return out;
}

}  // namespace api

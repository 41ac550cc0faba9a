#include "station/command.hpp"

#include <utility>

#include "station/station.hpp"

namespace station {

namespace {

constexpr std::pair<CommandOp, std::string_view> kOps[] = {
    {CommandOp::Submit, "submit"},        {CommandOp::Change, "change"},
    {CommandOp::Cancel, "cancel"},        {CommandOp::Fault, "fault"},
    {CommandOp::Recover, "recover"},      {CommandOp::SwitchOn, "switch_on"},
    {CommandOp::SwitchOff, "switch_off"}, {CommandOp::EndMetered, "end_metered"},
};

}  // namespace

Outcome apply(Station& st, const Command& c) {
    switch (c.op) {
        case CommandOp::Submit:
            if (!c.mode || !c.kwh) {
                return Outcome::refuse(Rejection::InvalidAmount);
            }
            return st.submit(c.subject, *c.mode, *c.kwh);
        case CommandOp::Change:
            return st.change(c.subject, c.mode, c.kwh);
        case CommandOp::Cancel:
            return st.cancel(c.subject);
        case CommandOp::Fault:
            return st.fault(c.subject, c.fault_duration);
        case CommandOp::Recover:
            return st.recover(c.subject);
        case CommandOp::SwitchOn:
            return st.switch_on(c.subject);
        case CommandOp::SwitchOff:
            return st.switch_off(c.subject);
        case CommandOp::EndMetered:
            if (!c.kwh) {
                return Outcome::refuse(Rejection::InvalidAmount);
            }
            return st.end_metered(c.subject, *c.kwh);
    }
    return Outcome::refuse(Rejection::None);
}

std::string_view to_string(CommandOp op) {
    for (const auto& [value, name] : kOps) {
        if (value == op) {
            return name;
        }
    }
    return "?";
}

std::optional<CommandOp> parse_command_op(std::string_view s) {
    for (const auto& [value, name] : kOps) {
        if (name == s) {
            return value;
        }
    }
    return std::nullopt;
}

}  // namespace station

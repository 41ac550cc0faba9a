#include "contract/journal.hpp"

#include "flat_fields.hpp"
#include "json_reader.hpp"

namespace contract {

using detail::Fields;
using nlohmann::json;

namespace {

bool names_car(station::CommandOp op) {
    return op == station::CommandOp::Submit || op == station::CommandOp::Change ||
           op == station::CommandOp::Cancel;
}

}  // namespace

std::string to_json(const JournalStart& s) {
    return json{{"op", "start"},        {"at", s.at},       {"run", s.run},
                {"profile", s.profile}, {"piles", s.piles}, {"simulated", s.simulated},
                {"base", s.base}}
        .dump();
}

std::string parse(std::string_view line, JournalStart& s) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) {
        return "the journal's start line is not JSON";
    }
    detail::JsonReader r(j, "the journal's start line");
    std::string op;
    r.text("op", op, 16);
    r.check(op == "start", "op", "\"start\"");
    r.integer("at", s.at, 0, detail::kMaxTime);
    r.text("run", s.run, 64);
    r.check(!s.run.empty(), "run", "named");
    r.text("profile", s.profile, 64);
    r.flag("simulated", s.simulated);
    s.base = 0;
    if (r.has("base")) {
        r.integer("base", s.base, 0, detail::kMaxPos);
    }
    s.piles.clear();
    if (const json* piles = r.field("piles")) {
        r.check(piles->is_array() && piles->size() <= 4096, "piles", "an array of pile ids");
        for (std::size_t i = 0; r.ok() && i < piles->size(); ++i) {
            const json& id = (*piles)[i];
            r.check(id.is_string() && valid_topic_id(id.get_ref<const std::string&>()), "piles",
                    "an array of pile ids");
            if (r.ok()) {
                s.piles.push_back(id.get<std::string>());
            }
        }
    }
    return r.error();
}

std::string to_json(const JournalEntry& e) {
    json j;
    switch (e.kind) {
        case JournalEntry::Kind::Clock:
            j["op"] = "clock";
            j["speed"] = e.speed;
            break;
        case JournalEntry::Kind::Advance:
            j["op"] = "advance";
            break;
        case JournalEntry::Kind::Command: {
            const station::Command& c = e.command;
            j["op"] = station::to_string(c.op);
            j[names_car(c.op) ? "car" : "pile"] = std::string(c.subject);
            if (c.mode) {
                j["mode"] = std::string(1, station::mode_letter(*c.mode));
            }
            if (c.kwh) {
                j["kwh"] = *c.kwh;
            }
            if (c.op == station::CommandOp::Fault) {
                j["duration_ms"] = c.fault_duration;
                if (e.offline) {
                    j["offline"] = true;
                }
            }
            break;
        }
    }
    j["t"] = e.t;
    if (!e.request.empty()) {
        j["req"] = e.request;
    }
    return j.dump();
}

std::string parse(std::string_view line, JournalEntry& e) {
    Fields f(line);
    std::string op;
    f.text("op", op);
    f.integer("t", e.t);
    f.check(e.t >= 0, "t", "0 or more");
    f.text("req", e.request, false);
    if (!f.ok()) {
        return f.error();
    }
    if (op == "clock") {
        e.kind = JournalEntry::Kind::Clock;
        f.number("speed", e.speed);
        f.check(e.speed >= 0 && e.speed <= 1e6, "speed", "between 0 and 1000000");
        return f.error();
    }
    if (op == "advance") {
        e.kind = JournalEntry::Kind::Advance;
        return f.error();
    }
    const auto parsed = station::parse_command_op(op);
    if (!parsed) {
        return "field \"op\" must be a known command";
    }
    e.kind = JournalEntry::Kind::Command;
    station::Command& c = e.command;
    c = station::Command{};
    c.op = *parsed;
    f.text(names_car(c.op) ? "car" : "pile", e.subject);
    if (f.has("mode")) {
        std::string mode;
        f.text("mode", mode);
        c.mode = station::parse_mode(mode);
        f.check(c.mode.has_value(), "mode", "\"F\" or \"T\"");
    }
    if (f.has("kwh")) {
        double kwh = 0;
        f.number("kwh", kwh);
        c.kwh = kwh;
    }
    f.check(c.op != station::CommandOp::Submit || (c.mode && c.kwh), "kwh",
            "given with a mode for submit");
    f.check(c.op != station::CommandOp::EndMetered || c.kwh.has_value(), "kwh",
            "given for end_metered (the meter's reading)");
    if (c.op == station::CommandOp::Fault) {
        f.integer("duration_ms", c.fault_duration, false);
        f.check(c.fault_duration >= 0, "duration_ms", "0 or more");
        f.flag("offline", e.offline, false);
    }
    e.bind();
    return f.error();
}

}  // namespace contract

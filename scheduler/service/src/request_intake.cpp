#include "service/request_intake.hpp"

#include <nlohmann/json.hpp>
#include <utility>

#include "contract/topics.hpp"

namespace service {

contract::SchedulerReply refused(std::string error, std::string reason) {
    contract::SchedulerReply r;
    r.ok = false;
    r.error = std::move(error);
    r.reason = std::move(reason);
    return r;
}

RequestIntake::Taken RequestIntake::take(std::string_view payload, std::int64_t wall_ms) const {
    using Verdict = Taken::Verdict;
    Taken t;
    contract::SchedulerRequest& req = t.request;
    if (std::string e = contract::parse(payload, req); !e.empty()) {
        t.verdict = Verdict::Malformed;
        // Answer a malformed request when it says where to, so the caller learns why.
        const nlohmann::json j = nlohmann::json::parse(payload, nullptr, false);
        if (j.is_object() && j.contains("id") && j["id"].is_string() && j.contains("reply_to") &&
            j["reply_to"].is_string()) {
            const std::string reply_to = j["reply_to"].get<std::string>();
            if (contract::is_replies_topic(reply_to)) {
                auto reply = refused("bad_request", e);
                reply.id = j["id"].get<std::string>();
                t.answer = contract::Publication{reply_to, contract::to_json(reply), 1, false};
            }
        }
        t.error = std::move(e);
        return t;
    }
    if (const std::string* known = replies_.find(req.id)) {
        t.verdict = Verdict::Repeated;
        t.answer = contract::Publication{req.reply_to, *known, 1, false};
        return t;
    }
    if (contract::changes_station(req.op) && req.expires_ms && wall_ms > *req.expires_ms) {
        // Not recorded: the caller may ask again under the same id with a new deadline.
        t.verdict = Verdict::Expired;
        auto reply =
            refused("expired", "the request arrived after its deadline and was not carried out");
        reply.id = req.id;
        reply.expires_ms = req.expires_ms;  // which copy: the id may be asked again with another
        t.answer = contract::Publication{req.reply_to, contract::to_json(reply), 1, false};
    }
    return t;
}

contract::Publication RequestIntake::reply(const contract::SchedulerRequest& request,
                                           contract::SchedulerReply reply) {
    reply.id = request.id;
    std::string text = contract::changes_station(request.op) ? remember(request.id, reply)
                                                             : contract::to_json(reply);
    if (text.size() > contract::kMaxPublishBytes) {
        auto too_large =
            refused("too_large", "the answer would exceed the bus's message limit of " +
                                     std::to_string(contract::kMaxPacketBytes) + " bytes");
        too_large.id = request.id;
        text = contract::to_json(too_large);
    }
    return {request.reply_to, std::move(text), 1, false};
}

std::string RequestIntake::remember(const std::string& id, contract::SchedulerReply reply) {
    reply.id = id;
    std::string text = contract::to_json(reply);
    replies_.remember(id, text);
    return text;
}

}  // namespace service

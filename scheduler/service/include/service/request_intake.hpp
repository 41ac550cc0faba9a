#pragma once
/// @file The request protocol on scheduler/requests, apart from what a request does: a
/// malformed request is answered `bad_request` when it says where to, a repeated one is
/// answered with the reply it had (RecentReplies) instead of carried out again, a change
/// past its deadline is answered `expired`; the reply to a request carried out is kept when
/// the request changed the station, and replaced by `too_large` when it would not fit in an
/// MQTT message.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "contract/messages.hpp"
#include "contract/publication.hpp"
#include "service/recent_replies.hpp"

namespace service {

/// A refusal: not ok, with its error code and the reason in words.
contract::SchedulerReply refused(std::string error, std::string reason);

class RequestIntake {
  public:
    explicit RequestIntake(std::size_t remembered = RecentReplies::kDefaultCapacity)
        : replies_(remembered) {}

    /// What became of a request's payload.
    struct Taken {
        enum class Verdict {
            Apply,      ///< to carry out (`request`), then to answer with reply()
            Malformed,  ///< dropped: `error` says why
            Repeated,   ///< answered with the reply it had
            Expired,    ///< a change past its deadline: answered, not carried out
        };
        Verdict verdict = Verdict::Apply;
        contract::SchedulerRequest request;           ///< as parsed (not for Malformed)
        std::string error;                            ///< Malformed: why
        std::optional<contract::Publication> answer;  ///< to publish now, if any
    };
    /// Takes one payload from scheduler/requests, received at `wall_ms`.
    Taken take(std::string_view payload, std::int64_t wall_ms) const;
    /// The reply to a request carried out, to publish: kept under its id if the request
    /// changes the station (reads are answered afresh, and their replies can be large).
    contract::Publication reply(const contract::SchedulerRequest& request,
                                contract::SchedulerReply reply);
    /// Keeps `reply` as the answer to request `id` (e.g. from the journal on a resume);
    /// returns its text.
    std::string remember(const std::string& id, contract::SchedulerReply reply);

    /// The replies kept, for a snapshot and back.
    RecentReplies& replies() { return replies_; }
    const RecentReplies& replies() const { return replies_; }

  private:
    RecentReplies replies_;
};

}  // namespace service

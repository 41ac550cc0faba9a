#pragma once
/// @file What the API's use cases ask of a station's scheduler (the port; the bus adapter is
/// SchedulerLink in api/scheduler_link.hpp, the use-case tests run the scheduler's logic in
/// process behind it), and the log sink the API's pieces share.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "contract/messages.hpp"

namespace api {

/// Log sink: level ("info", "warn", "error") and message.
using LogFn = std::function<void(std::string_view level, std::string_view message)>;

/// What the API asks of the scheduler.
class SchedulerPort {
  public:
    virtual ~SchedulerPort() = default;
    /// Sends `request` (its reply_to is filled in, and its id unless it has one) and waits
    /// for the reply; nullopt if none came within `timeout`.
    virtual std::optional<contract::SchedulerReply> call(contract::SchedulerRequest request,
                                                         std::chrono::milliseconds timeout) = 0;
    /// Waits until the store has applied the log of `run` up to `pos`; false if it had not
    /// within `timeout` (a catch-up is asked for then).
    virtual bool wait_applied(const std::string& run, std::int64_t pos,
                              std::chrono::milliseconds timeout) = 0;
    /// A unique id for a request.
    virtual std::string next_request_id() = 0;
    /// The station whose scheduler this is: the station of the rows it brings to the store
    /// (OrderRecord::station), "" for the one scheduler on its own topics.
    virtual const std::string& station() const = 0;
};

}  // namespace api

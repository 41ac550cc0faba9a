#pragma once
/// @file The API's link to the scheduler over MQTT: requests with correlated replies, the
/// station state and clock into the read model, and the scheduler's change log into
/// storage. The log is followed on a worker thread of its own: batches are applied in
/// order, each with the position it reaches, in the transaction of its effects; a gap, a
/// reconnection, a state that names a later position or a new scheduler run makes the
/// worker ask the scheduler for what follows its position until it has caught up.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "api/api_metrics.hpp"
#include "api/position_waiters.hpp"
#include "api/scheduler_port.hpp"
#include "api/station_view.hpp"
#include "api/store_port.hpp"
#include "bus/inbox.hpp"
#include "bus/mqtt_client.hpp"
#include "contract/messages.hpp"

namespace api {

class SchedulerLink final : public SchedulerPort {
  public:
    struct Options {
        std::string uri = "tcp://127.0.0.1:1883";
        std::string client_id = "station-api";
        std::string username;  ///< broker credentials, none when empty
        std::string password;
        std::string ca_file;  ///< for ssl:// brokers (bus::ClientOptions::ca_file)
        /// The station whose scheduler this is, at a centre serving several (its topics
        /// under evcs/v1/stations/{station}/, contract::at_centre); empty: the station's
        /// own tree (the API on the station's broker, or a centre of one station).
        std::string station;
        /// Most changes asked for in one catch-up answer.
        std::int64_t catch_up_limit = 5000;
        /// How long a later position named by the station state may stay unapplied (its
        /// batch may be on the way) before the worker asks for it.
        std::chrono::milliseconds behind_grace{300};
        /// How often the worker checks with the scheduler that it has missed nothing even
        /// when all is quiet.
        std::chrono::milliseconds check_every{10000};
        /// Where requests and the log's known position and lag are counted
        /// (api/api_metrics.hpp); nullptr: not counted. Must outlive the link.
        ApiMetrics* metrics = nullptr;
    };

    SchedulerLink(Options options, StorePort& store, StationView& view, LogFn log);
    ~SchedulerLink() override;

    void start();
    void stop();

    std::optional<contract::SchedulerReply> call(contract::SchedulerRequest request,
                                                 std::chrono::milliseconds timeout) override;
    bool wait_applied(const std::string& run, std::int64_t pos,
                      std::chrono::milliseconds timeout) override;
    std::string next_request_id() override;
    const std::string& station() const override { return options_.station; }

  private:
    void on_message(bus::Received m);
    void work();
    /// Applies what is applicable of `batches` (in order) in one transaction; returns
    /// false if one of them starts beyond the position (a gap).
    bool apply_in_order(std::vector<contract::ChangeBatch>& batches);
    /// Asks the scheduler for what follows the stored position until it is all applied;
    /// false if the scheduler did not answer.
    bool catch_up();
    void applied();
    void log(std::string_view level, const std::string& message) const;
    /// For the metrics: the scheduler has the log of `run` up to `pos` (a station state or a
    /// change batch said so).
    void note_known(const std::string& run, std::int64_t pos);
    /// For the metrics: the known position and the lag against the stored position.
    void update_lag();

    Options options_;
    StorePort& store_;
    StationView& view_;
    LogFn log_;
    const std::string reply_to_;       // the replies topic as the scheduler names it
    const std::string replies_topic_;  // and as this link subscribes to it
    const std::string state_topic_;
    const std::string clock_topic_;
    const std::string changes_topic_;
    const std::string requests_topic_;
    const std::string boot_;
    std::atomic<std::int64_t> next_id_{0};
    // Callers waiting for a reply, by request id and deadline: one id may be sent again
    // with a later deadline, and an `expired` answer to the earlier copy must not end the
    // later copy's wait (it says nothing of it).
    struct Pending {
        std::promise<contract::SchedulerReply> promise;
        std::shared_future<contract::SchedulerReply> future;
        int waiters = 0;
    };
    using PendingKey = std::pair<std::string, std::int64_t>;  // id, deadline (-1: none)
    std::mutex pending_mutex_;
    std::map<PendingKey, std::shared_ptr<Pending>> pending_;
    bus::Inbox inbox_;  // change batches and hints for the worker
    std::atomic<bool> stopping_{false};
    std::atomic<bool> catch_up_wanted_{true};  // at start: whatever happened meanwhile
    std::thread worker_;
    // The latest position the station state named, for the worker.
    std::mutex head_mutex_;
    LogPosition named_head_;
    std::chrono::steady_clock::time_point behind_since_{};
    PositionWaiters waiters_;
    // For the metrics: the newest position known, and the known positions not yet applied
    // with when each became known (oldest first, at most kMaxUnapplied).
    std::mutex known_mutex_;
    LogPosition known_;
    std::deque<std::pair<std::int64_t, std::chrono::steady_clock::time_point>> unapplied_;
    // Last, so that it is destroyed first: Paho's thread may still be in a callback that
    // uses the members above until the client is gone.
    std::unique_ptr<bus::MqttClient> client_;
};

}  // namespace api

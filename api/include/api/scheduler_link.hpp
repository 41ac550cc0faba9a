#pragma once
/// @file The API's link to the scheduler over MQTT: requests with correlated replies, the
/// station state and clock into the read model, and the scheduler's order updates and
/// detailed bills into storage (on a worker thread of its own, in arrival order).

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "api/station_view.hpp"
#include "api/store.hpp"
#include "bus/inbox.hpp"
#include "bus/mqtt_client.hpp"
#include "contract/messages.hpp"

namespace api {

using LogFn = std::function<void(std::string_view level, std::string_view message)>;

/// An order update (station/orders, or an order reply's data) as a record; nullopt if the
/// car is not one of ours (a numeric id) or the message is malformed.
std::optional<OrderRecord> order_from_update(const nlohmann::json& update);
/// A bill (station/bills) as a record; nullopt if malformed.
std::optional<BillRecord> bill_from_update(const nlohmann::json& bill);

/// What the API asks of the scheduler. The bus implementation is SchedulerLink.
class SchedulerPort {
  public:
    virtual ~SchedulerPort() = default;
    /// Sends `request` (its id and reply_to are filled in) and waits for the reply;
    /// nullopt if none came within `timeout`.
    virtual std::optional<contract::SchedulerReply> call(contract::SchedulerRequest request,
                                                         std::chrono::milliseconds timeout) = 0;
};

class SchedulerLink final : public SchedulerPort {
  public:
    struct Options {
        std::string uri = "tcp://127.0.0.1:1883";
        std::string client_id = "station-api";
        std::string username;  ///< broker credentials, none when empty
        std::string password;
    };

    SchedulerLink(Options options, Store& store, StationView& view, LogFn log);
    ~SchedulerLink() override;

    void start();
    void stop();

    std::optional<contract::SchedulerReply> call(contract::SchedulerRequest request,
                                                 std::chrono::milliseconds timeout) override;

  private:
    void on_message(bus::Received m);
    void work();

    Options options_;
    Store& store_;
    StationView& view_;
    LogFn log_;
    const std::string replies_topic_;
    const std::string state_topic_;
    const std::string clock_topic_;
    const std::string orders_topic_;
    const std::string boot_;
    std::atomic<std::int64_t> next_id_{0};
    std::mutex pending_mutex_;
    std::map<std::string, std::promise<contract::SchedulerReply>> pending_;
    bus::Inbox inbox_;  // order updates and bills for the worker
    std::atomic<bool> stopping_{false};
    std::unique_ptr<bus::MqttClient> client_;
    std::thread worker_;
};

}  // namespace api

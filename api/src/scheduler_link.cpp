#include "api/scheduler_link.hpp"

#include "cli/cli.hpp"
#include "contract/topics.hpp"

namespace api {

using nlohmann::json;

namespace {

std::string time_text(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_object()) {
        return "";
    }
    return it->value("time", "");
}

}  // namespace

std::optional<OrderRecord> order_from_update(const json& u) {
    try {
        const std::string car = u.at("car").get<std::string>();
        if (car.empty() || car.size() > 18 ||
            car.find_first_not_of("0123456789") != std::string::npos) {
            return std::nullopt;
        }
        OrderRecord o;
        o.station_key = u.at("run").get<std::string>() + "/" +
                        std::to_string(u.at("order").get<std::int64_t>());
        o.car_id = std::stoll(car);
        o.mode = u.at("mode").get<std::string>();
        o.number_text = u.at("number").get<std::string>();
        o.number = o.number_text.size() > 1 ? std::stoll(o.number_text.substr(1)) : 0;
        o.state = u.at("state").get<std::string>();
        o.apply_kwh = u.at("requested_kwh").get<double>();
        o.charge_kwh = u.at("charged_kwh").get<double>();
        o.charge_fee = u.at("charge_fee").get<double>();
        o.service_fee = u.at("service_fee").get<double>();
        o.pile = u.value("pile", "");
        o.front_cars = u.value("front_cars", 0);
        o.create_time = time_text(u, "created");
        o.dispatch_time = time_text(u, "dispatched");
        o.start_time = time_text(u, "started");
        o.finish_time = time_text(u, "closed");
        if (o.mode != "F" && o.mode != "T") {
            return std::nullopt;
        }
        return o;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::optional<BillRecord> bill_from_update(const json& b) {
    try {
        BillRecord r;
        const std::string run = b.at("run").get<std::string>();
        r.station_key = run + "/" + std::to_string(b.at("bill").get<std::int64_t>());
        r.order_key = run + "/" + std::to_string(b.at("order").get<std::int64_t>());
        r.pile = b.at("pile").get<std::string>();
        r.start_ms = b.at("start").at("at_ms").get<std::int64_t>();
        r.stop_ms = b.at("stop").at("at_ms").get<std::int64_t>();
        r.kwh = b.at("kwh").get<double>();
        r.hours = b.at("hours").get<double>();
        r.charge_fee = b.at("charge_fee").get<double>();
        r.service_fee = b.at("service_fee").get<double>();
        r.reason = b.value("reason", "");
        return r;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

SchedulerLink::SchedulerLink(Options options, Store& store, StationView& view, LogFn log)
    : options_(std::move(options)),
      store_(store),
      view_(view),
      log_(std::move(log)),
      replies_topic_(contract::replies_topic(options_.client_id)),
      state_topic_(contract::station_state_topic()),
      clock_topic_(contract::station_clock_topic()),
      orders_topic_(contract::station_orders_topic()),
      boot_(options_.client_id + "-" + std::to_string(cli::wall_ms())) {
    bus::ClientOptions copts;
    copts.uri = options_.uri;
    copts.client_id = options_.client_id;
    copts.username = options_.username;
    copts.password = options_.password;
    // A persistent session: order updates and bills published while the API is down wait
    // for it at the broker.
    copts.persistent_session = true;
    copts.subscriptions = {{state_topic_, 1},
                           {clock_topic_, 1},
                           {orders_topic_, 1},
                           {contract::station_bills_topic(), 1},
                           {replies_topic_, 1}};
    client_ = std::make_unique<bus::MqttClient>(
        copts, [this](bus::Received m) { on_message(std::move(m)); });
}

SchedulerLink::~SchedulerLink() {
    stop();
}

void SchedulerLink::start() {
    worker_ = std::thread([this] { work(); });
    client_->start();
}

void SchedulerLink::stop() {
    if (stopping_.exchange(true)) {
        return;
    }
    client_->begin_stop(std::nullopt);
    client_->finish_stop(std::chrono::milliseconds(1000));
    if (worker_.joinable()) {
        worker_.join();
    }
}

void SchedulerLink::on_message(bus::Received m) {
    // Paho's thread: replies, state and clock are quick to take; storage waits for the worker.
    if (m.topic == replies_topic_) {
        contract::SchedulerReply reply;
        if (!contract::parse(m.payload, reply).empty()) {
            return;
        }
        std::lock_guard lock(pending_mutex_);
        if (const auto it = pending_.find(reply.id); it != pending_.end()) {
            it->second.set_value(std::move(reply));
            pending_.erase(it);
        }
        return;
    }
    if (m.topic == state_topic_) {
        view_.offer(json::parse(m.payload, nullptr, false));
        return;
    }
    if (m.topic == clock_topic_) {
        contract::ClockMessage clock;
        if (contract::parse(m.payload, clock).empty()) {
            view_.set_clock(clock);
        }
        return;
    }
    inbox_.push({bus::InboxItem::Kind::Message, std::move(m), 0});
}

void SchedulerLink::work() {
    while (!stopping_.load()) {
        auto batch =
            inbox_.pop_all_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
        // A burst is stored in one transaction: one fsync, not one per message.
        std::vector<std::variant<OrderRecord, BillRecord>> updates;
        for (const auto& item : batch) {
            const json j = json::parse(item.message.payload, nullptr, false);
            if (item.message.topic == orders_topic_) {
                if (auto o = order_from_update(j)) {
                    updates.emplace_back(std::move(*o));
                }
            } else if (auto b = bill_from_update(j)) {
                updates.emplace_back(std::move(*b));
            } else if (log_) {
                log_("warn", "ignored a malformed bill");
            }
        }
        if (updates.empty()) {
            continue;
        }
        try {
            store_.record_updates(updates);
        } catch (const std::exception&) {
            // One bad update must not lose the others: store them one by one.
            for (const auto& u : updates) {
                try {
                    store_.record_updates({u});
                } catch (const std::exception& one) {
                    if (log_) {
                        log_("error", std::string("could not store an update: ") + one.what());
                    }
                }
            }
        }
    }
}

std::optional<contract::SchedulerReply> SchedulerLink::call(contract::SchedulerRequest request,
                                                            std::chrono::milliseconds timeout) {
    request.id = boot_ + "-" + std::to_string(++next_id_);
    request.reply_to = replies_topic_;
    std::future<contract::SchedulerReply> reply;
    {
        std::lock_guard lock(pending_mutex_);
        reply = pending_[request.id].get_future();
    }
    client_->publish({contract::scheduler_requests_topic(), contract::to_json(request), 1, false});
    if (reply.wait_for(timeout) != std::future_status::ready) {
        std::lock_guard lock(pending_mutex_);
        pending_.erase(request.id);
        return std::nullopt;
    }
    return reply.get();
}

}  // namespace api

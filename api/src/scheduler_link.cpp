#include "api/scheduler_link.hpp"

#include <limits>

#include "api/log_follower.hpp"
#include "cli/cli.hpp"
#include "contract/topics.hpp"

namespace api {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

/// Known but unapplied positions kept for the lag; beyond, the newest ones share a time.
constexpr std::size_t kMaxUnapplied = 1024;

}  // namespace

SchedulerLink::SchedulerLink(Options options, StorePort& store, StationView& view, LogFn log)
    : options_(std::move(options)),
      store_(store),
      view_(view),
      log_(std::move(log)),
      reply_to_(contract::replies_topic(options_.client_id)),
      replies_topic_(contract::at_centre(options_.station, reply_to_)),
      state_topic_(contract::at_centre(options_.station, contract::station_state_topic())),
      clock_topic_(contract::at_centre(options_.station, contract::station_clock_topic())),
      changes_topic_(contract::at_centre(options_.station, contract::station_changes_topic())),
      requests_topic_(contract::at_centre(options_.station, contract::scheduler_requests_topic())),
      boot_(options_.client_id + "-" + std::to_string(cli::wall_ms())) {
    bus::ClientOptions copts;
    copts.uri = options_.uri;
    copts.client_id = options_.client_id;
    copts.username = options_.username;
    copts.password = options_.password;
    copts.ca_file = options_.ca_file;
    // A persistent session: changes published while the API is down wait for it at the
    // broker (and what the broker loses, the catch-up brings).
    copts.persistent_session = true;
    copts.subscriptions = {
        {state_topic_, 1}, {clock_topic_, 1}, {changes_topic_, 1}, {replies_topic_, 1}};
    client_ = std::make_unique<bus::MqttClient>(
        copts, [this](bus::Received m) { on_message(std::move(m)); },
        [this] {
            catch_up_wanted_ = true;
            inbox_.push({bus::InboxItem::Kind::Connected, {}, 0});
        });
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

void SchedulerLink::log(std::string_view level, const std::string& message) const {
    if (log_) {
        log_(level, message);
    }
}

void SchedulerLink::on_message(bus::Received m) {
    // Paho's thread: replies, state and clock are quick to take; storage waits for the worker.
    if (m.topic == replies_topic_) {
        contract::SchedulerReply reply;
        if (const std::string e = contract::parse(m.payload, reply); !e.empty()) {
            log("warn", "ignored a malformed reply: " + e);
            return;
        }
        std::lock_guard lock(pending_mutex_);
        // An `expired` answer belongs to the copy with that deadline; any other answer is
        // the request's outcome, for every copy.
        for (auto it = pending_.lower_bound(
                 PendingKey{reply.id, std::numeric_limits<std::int64_t>::min()});
             it != pending_.end() && it->first.first == reply.id;) {
            if (reply.expires_ms && *reply.expires_ms != it->first.second) {
                ++it;
                continue;
            }
            it->second->promise.set_value(reply);
            it = pending_.erase(it);
        }
        return;
    }
    if (m.topic == state_topic_) {
        contract::StationState state;
        if (const std::string e = contract::parse(m.payload, state); !e.empty()) {
            log("warn", "refused a station state: " + e);
            return;
        }
        {
            std::lock_guard lock(head_mutex_);
            named_head_ = LogPosition{state.run, state.head};
        }
        note_known(state.run, state.head);
        view_.offer(std::move(state));
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
    auto last_check = Clock::now();
    while (!stopping_.load()) {
        auto items = inbox_.pop_all_until(Clock::now() + std::chrono::milliseconds(100));
        std::vector<contract::ChangeBatch> batches;
        for (const auto& item : items) {
            if (item.kind != bus::InboxItem::Kind::Message ||
                item.message.topic != changes_topic_) {
                continue;
            }
            contract::ChangeBatch b;
            if (const std::string e = contract::parse(item.message.payload, b); !e.empty()) {
                log("warn", "refused a change batch: " + e);
                continue;
            }
            note_known(b.run, b.to);
            batches.push_back(std::move(b));
        }
        bool gap = false;
        try {
            gap = !apply_in_order(batches);
        } catch (const std::exception& e) {
            log("error", std::string("could not store changes: ") + e.what());
            gap = true;  // nothing was stored: ask again
        }
        // Behind the position the station state names, for longer than a batch in flight
        // takes: a batch was lost.
        bool behind = false;
        {
            const LogPosition have = store_.log_position(options_.station);
            std::lock_guard lock(head_mutex_);
            const bool lagging = !named_head_.run.empty() &&
                                 (named_head_.run != have.run || named_head_.pos > have.pos);
            if (!lagging) {
                behind_since_ = {};
            } else if (behind_since_ == Clock::time_point{}) {
                behind_since_ = Clock::now();
            } else if (Clock::now() - behind_since_ >= options_.behind_grace) {
                behind = true;
                behind_since_ = {};
            }
        }
        const bool due = Clock::now() - last_check >= options_.check_every;
        if (gap || behind || due || catch_up_wanted_.exchange(false)) {
            last_check = Clock::now();
            if (!catch_up()) {
                catch_up_wanted_ = true;  // the scheduler did not answer: again soon
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        }
        update_lag();
    }
}

void SchedulerLink::note_known(const std::string& run, std::int64_t pos) {
    if (options_.metrics == nullptr || run.empty()) {
        return;
    }
    std::lock_guard lock(known_mutex_);
    if (run != known_.run) {
        known_ = LogPosition{run, pos};  // a new run of the scheduler: its positions count
        unapplied_.clear();
    } else if (pos <= known_.pos) {
        return;
    }
    known_.pos = pos;
    auto since = Clock::now();
    if (unapplied_.size() >= kMaxUnapplied) {
        since = unapplied_.back().second;  // the lag may be overstated, never understated
        unapplied_.pop_back();
    }
    unapplied_.emplace_back(pos, since);
    options_.metrics->log_known(options_.station, pos);
}

void SchedulerLink::update_lag() {
    if (options_.metrics == nullptr) {
        return;
    }
    const LogPosition have = store_.log_position(options_.station);
    std::lock_guard lock(known_mutex_);
    if (known_.run.empty() && !have.run.empty()) {
        known_ = have;
        options_.metrics->log_known(options_.station, have.pos);
    }
    if (have.run == known_.run) {
        while (!unapplied_.empty() && unapplied_.front().first <= have.pos) {
            unapplied_.pop_front();
        }
        if (have.pos > known_.pos) {
            known_.pos = have.pos;
            options_.metrics->log_known(options_.station, have.pos);
        }
    }
    const std::chrono::duration<double> lag =
        unapplied_.empty() ? Clock::duration::zero() : Clock::now() - unapplied_.front().second;
    options_.metrics->log_lag(options_.station, lag.count());
}

bool SchedulerLink::apply_in_order(std::vector<contract::ChangeBatch>& batches) {
    if (batches.empty()) {
        return true;
    }
    const LogPosition before = store_.log_position(options_.station);
    const Applied a = apply_batches(store_, options_.station, batches);
    const LogPosition after = store_.log_position(options_.station);
    if (a.batches > 0 || after.run != before.run || after.pos != before.pos) {
        applied();  // also when another writer of the database moved the position
    }
    return !a.gap;
}

bool SchedulerLink::catch_up() {
    for (;;) {
        const LogPosition have = store_.log_position(options_.station);
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::Changes;
        r.run = have.run;
        r.after = have.pos;
        r.limit = options_.catch_up_limit;
        // Short: batches wait behind it (a silent scheduler is asked again soon).
        const auto reply = call(r, std::chrono::milliseconds(2000));
        if (!reply || !reply->ok || !reply->changes) {
            return false;
        }
        note_known(reply->changes->run, reply->changes->to);
        std::vector<contract::ChangeBatch> one{*reply->changes};
        const auto items =
            static_cast<std::int64_t>(one.front().orders.size() + one.front().bills.size());
        const bool more = one.front().more;
        if (!apply_in_order(one)) {
            log("warn", "a catch-up answer did not continue the stored position");
            return false;
        }
        if (items > 0) {
            log("info", "caught up " + std::to_string(items) + " changes of run " +
                            one.front().run + " to position " + std::to_string(one.front().to));
        }
        if (!more) {
            return true;
        }
    }
}

void SchedulerLink::applied() {
    waiters_.reached(store_.log_position(options_.station));
    update_lag();
}

bool SchedulerLink::wait_applied(const std::string& run, std::int64_t pos,
                                 std::chrono::milliseconds timeout) {
    if (waiters_.wait(
            run, pos, [this] { return store_.log_position(options_.station); }, timeout)) {
        return true;
    }
    catch_up_wanted_ = true;
    return false;
}

std::string SchedulerLink::next_request_id() {
    return boot_ + "-" + std::to_string(++next_id_);
}

std::optional<contract::SchedulerReply> SchedulerLink::call(contract::SchedulerRequest request,
                                                            std::chrono::milliseconds timeout) {
    if (request.id.empty()) {
        request.id = next_request_id();
    }
    // In the station's own terms: the scheduler answers at its broker, and the bridge
    // carries the answer to replies_topic_ at the centre.
    request.reply_to = reply_to_;
    const auto started = Clock::now();
    std::shared_ptr<Pending> pending;
    PendingKey key;
    {
        // Callers of the same id (a retry, two requests with one Idempotency-Key) share
        // one wait for its reply.
        std::lock_guard lock(pending_mutex_);
        key = PendingKey{request.id, request.expires_ms.value_or(-1)};
        auto& slot = pending_[key];
        if (!slot) {
            slot = std::make_shared<Pending>();
            slot->future = slot->promise.get_future().share();
        }
        ++slot->waiters;
        pending = slot;
    }
    client_->publish({requests_topic_, contract::to_json(request), 1, false});
    const bool ready = pending->future.wait_for(timeout) == std::future_status::ready;
    {
        std::lock_guard lock(pending_mutex_);
        const auto it = pending_.find(key);
        if (--pending->waiters == 0 && it != pending_.end() && it->second == pending) {
            pending_.erase(it);
        }
    }
    if (options_.metrics != nullptr) {
        const std::chrono::duration<double> took = Clock::now() - started;
        using Outcome = ApiMetrics::Outcome;
        options_.metrics->scheduler_request(!ready                     ? Outcome::Timeout
                                            : pending->future.get().ok ? Outcome::Answered
                                                                       : Outcome::Refused,
                                            took.count());
    }
    if (!ready) {
        return std::nullopt;
    }
    return pending->future.get();
}

}  // namespace api

#include <cmath>
#include <nlohmann/json.hpp>

#include "pilesim/vendor_dialect.hpp"

namespace pilesim {

namespace {

using nlohmann::json;

constexpr double kVolts = 230;

class GoeDialect final : public VendorDialect {
  public:
    explicit GoeDialect(std::string serial) : root_("go-eCharger/" + serial + "/") {}

    contract::Publication last_will() const override { return {root_ + "mcc", "false", 1, true}; }

    std::vector<std::pair<std::string, int>> subscriptions() const override {
        return {{root_ + "+/set", 1}};
    }

    std::vector<contract::Publication> hello(const SimCharger& c) override {
        std::vector<contract::Publication> out = {{root_ + "mcc", "true", 1, true},
                                                  {root_ + "err", "0", 1, true},
                                                  {root_ + "frc", std::to_string(frc_), 1, true}};
        for (auto& p : report(c)) {
            out.push_back(std::move(p));
        }
        return out;
    }

    std::vector<contract::Publication> report(const SimCharger& c) override {
        // nrg: U L1 L2 L3 N, I L1 L2 L3, P L1 L2 L3 N Total (W), pf L1 L2 L3 N.
        const double watts = c.power_kw() * 1000.0;
        const double amps = watts / (3 * kVolts);
        const json nrg = {kVolts,    kVolts,    kVolts, 0,     amps, amps, amps, watts / 3,
                          watts / 3, watts / 3, 0,      watts, 100,  100,  100,  0};
        return {{root_ + "car", std::to_string(car_state(c)), 1, true},
                {root_ + "alw", c.delivering() ? "true" : "false", 1, true},
                {root_ + "nrg", nrg.dump(), 1, true},
                {root_ + "wh", json(std::round(c.session_wh() * 100) / 100).dump(), 1, true},
                {root_ + "eto", std::to_string(std::llround(c.total_wh())), 1, true}};
    }

    std::vector<contract::Publication> on_message(std::string_view topic, std::string_view payload,
                                                  SimCharger& c, station::TimeMs now) override {
        if (topic.size() < root_.size() + 5) {
            return {};
        }
        const std::string key(topic.substr(root_.size(), topic.size() - root_.size() - 4));
        const std::string result_topic = root_ + key + "/result";
        if (key != "frc") {
            return {{result_topic, "key " + key + " is not writable here", 1, false}};
        }
        const json v = json::parse(payload, nullptr, false);
        if (v.is_discarded()) {
            return {
                {result_topic, "invalid json: " + std::string(payload.substr(0, 40)), 1, false}};
        }
        if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 2) {
            return {{result_topic, "value must be 0, 1 or 2", 1, false}};
        }
        frc_ = v.get<int>();
        // 0 (neutral) leaves the charger to its own logic, which lets a car charge.
        c.set_enabled(frc_ != 1, now);
        // The values as they stand when the write took effect, then the answer.
        std::vector<contract::Publication> out = {{root_ + "frc", std::to_string(frc_), 1, true}};
        for (auto& p : report(c)) {
            out.push_back(std::move(p));
        }
        out.push_back({result_topic, "success", 1, false});
        return out;
    }

  private:
    static int car_state(const SimCharger& c) {
        if (c.faulty()) {
            return 5;
        }
        if (!c.car()) {
            return 1;
        }
        return c.delivering() ? 2 : 4;
    }

    std::string root_;
    int frc_ = 0;
};

}  // namespace

std::unique_ptr<VendorDialect> make_goe_dialect(std::string serial) {
    return std::make_unique<GoeDialect>(std::move(serial));
}

}  // namespace pilesim

#include <cmath>
#include <nlohmann/json.hpp>

#include "pilesim/vendor_dialect.hpp"

namespace pilesim {

namespace {

using nlohmann::json;

constexpr double kVolts = 240;

class OpenEvseDialect final : public VendorDialect {
  public:
    explicit OpenEvseDialect(std::string id)
        : id_(std::move(id)), base_("openevse-" + id_ + "/"), claim_({{"state", "null"}}) {}

    contract::Publication last_will() const override { return announce("disconnected"); }

    std::vector<std::pair<std::string, int>> subscriptions() const override {
        return {{base_ + "claim/set", 1}};
    }

    std::vector<contract::Publication> hello(const SimCharger& c) override {
        std::vector<contract::Publication> out = {announce("connected"),
                                                  {base_ + "claim", claim_.dump(), 1, true}};
        for (auto& p : report(c)) {
            out.push_back(std::move(p));
        }
        return out;
    }

    std::vector<contract::Publication> report(const SimCharger& c) override {
        const double watts = c.power_kw() * 1000.0;
        return {{base_ + "state", std::to_string(evse_state(c)), 1, true},
                {base_ + "vehicle", c.car() ? "1" : "0", 1, true},
                {base_ + "amp", std::to_string(std::llround(watts / kVolts * 1000.0)), 1, true},
                {base_ + "voltage", json(kVolts).dump(), 1, true},
                {base_ + "power", std::to_string(std::llround(watts)), 1, true},
                {base_ + "session_energy", json(std::round(c.session_wh() * 100) / 100).dump(), 1,
                 true},
                {base_ + "total_energy", json(std::round(c.total_wh()) / 1000.0).dump(), 1, true}};
    }

    std::vector<contract::Publication> on_message(std::string_view topic, std::string_view payload,
                                                  SimCharger& c, station::TimeMs now) override {
        (void)topic;  // claim/set is the only topic subscribed
        if (payload == "release") {
            claim_ = {{"state", "null"}};
        } else {
            const json j = json::parse(payload, nullptr, false);
            if (!j.is_object()) {
                return {};  // the firmware ignores what it cannot read
            }
            if (claim_.value("state", "null") == "null") {
                claim_ = json::object();
            }
            for (const auto& [k, v] : j.items()) {
                claim_[k] = v;
            }
        }
        const std::string state = claim_.value("state", "null");
        // Without a claim the charger follows its own settings, which let a car charge.
        c.set_enabled(state != "disabled", now);
        std::vector<contract::Publication> out = {{base_ + "claim", claim_.dump(), 1, true}};
        for (auto& p : report(c)) {
            out.push_back(std::move(p));
        }
        return out;
    }

  private:
    contract::Publication announce(const std::string& state) const {
        const json a = {{"state", state},
                        {"id", "5im" + id_},
                        {"name", "openevse-" + id_},
                        {"mqtt", "openevse-" + id_},
                        {"http", "http://127.0.0.1/"}};
        return {"openevse/announce/" + id_, a.dump(), 1, true};
    }

    static int evse_state(const SimCharger& c) {
        if (c.faulty()) {
            return 6;  // GFCI fault
        }
        if (!c.enabled()) {
            return 255;
        }
        if (!c.car()) {
            return 1;
        }
        return c.delivering() ? 3 : 2;
    }

    std::string id_;
    std::string base_;
    json claim_;
};

}  // namespace

std::unique_ptr<VendorDialect> make_openevse_dialect(std::string id) {
    return std::make_unique<OpenEvseDialect>(std::move(id));
}

}  // namespace pilesim

#include "station/records.hpp"

#include "station/rejection.hpp"
#include "station/time.hpp"

namespace station {

double Bill::hours() const {
    return ms_to_hours(stop - start);
}

double PileTotals::hours() const {
    return ms_to_hours(charging_ms);
}

void PileTotals::add(const Bill& bill) {
    ++charges;
    charging_ms += bill.stop - bill.start;
    kwh += bill.kwh;
    charge_fee += bill.charge_fee;
    service_fee += bill.service_fee;
}

std::string_view to_string(OrderState s) {
    switch (s) {
        case OrderState::Waiting:
            return "WAITING";
        case OrderState::Dispatched:
            return "DISPATCHED";
        case OrderState::Charging:
            return "CHARGING";
        case OrderState::Finished:
            return "FINISHED";
        case OrderState::Cancelled:
            return "CANCELLED";
    }
    return "?";
}

std::string_view to_string(PileState s) {
    switch (s) {
        case PileState::Off:
            return "OFF";
        case PileState::Work:
            return "WORK";
        case PileState::Rest:
            return "REST";
        case PileState::Fault:
            return "FAULT";
    }
    return "?";
}

std::string_view to_string(StopReason r) {
    switch (r) {
        case StopReason::Completed:
            return "completed";
        case StopReason::Cancelled:
            return "cancelled";
        case StopReason::Fault:
            return "fault";
        case StopReason::SwitchedOff:
            return "switched-off";
    }
    return "?";
}

std::string_view describe(Rejection r) {
    switch (r) {
        case Rejection::None:
            return "ok";
        case Rejection::WaitingAreaFull:
            return "waiting area is full";
        case Rejection::CarAlreadyActive:
            return "car already has an active request";
        case Rejection::UnknownCar:
            return "car has no active request";
        case Rejection::NotInWaitingArea:
            return "car is not in the waiting area";
        case Rejection::UnknownPile:
            return "no such pile";
        case Rejection::PileAlreadyFaulty:
            return "pile is already faulty";
        case Rejection::PileNotFaulty:
            return "pile is not faulty";
        case Rejection::PileAlreadyOff:
            return "pile is already switched off";
        case Rejection::PileAlreadyOn:
            return "pile is already switched on";
        case Rejection::InvalidAmount:
            return "amount must be a number above 0";
        case Rejection::InvalidCar:
            return "car id must not be empty";
        case Rejection::NoPileForMode:
            return "the station has no pile of that mode";
        case Rejection::InvalidDuration:
            return "fault duration must not be negative";
        case Rejection::PileNotMetered:
            return "the pile is not metered";
        case Rejection::PileNotCharging:
            return "the pile charges no car";
    }
    return "?";
}

std::string_view code(Rejection r) {
    switch (r) {
        case Rejection::None:
            return "ok";
        case Rejection::WaitingAreaFull:
            return "waiting_area_full";
        case Rejection::CarAlreadyActive:
            return "car_already_active";
        case Rejection::UnknownCar:
            return "unknown_car";
        case Rejection::NotInWaitingArea:
            return "not_in_waiting_area";
        case Rejection::UnknownPile:
            return "unknown_pile";
        case Rejection::PileAlreadyFaulty:
            return "pile_already_faulty";
        case Rejection::PileNotFaulty:
            return "pile_not_faulty";
        case Rejection::PileAlreadyOff:
            return "pile_already_off";
        case Rejection::PileAlreadyOn:
            return "pile_already_on";
        case Rejection::InvalidAmount:
            return "invalid_amount";
        case Rejection::InvalidCar:
            return "invalid_car";
        case Rejection::NoPileForMode:
            return "no_pile_for_mode";
        case Rejection::InvalidDuration:
            return "invalid_duration";
        case Rejection::PileNotMetered:
            return "pile_not_metered";
        case Rejection::PileNotCharging:
            return "pile_not_charging";
    }
    return "unknown";
}

}  // namespace station

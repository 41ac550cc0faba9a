#pragma once
// Internal: a buffered text sink with the number and string forms the replay prints.
// Formatting by hand (not a JSON DOM) keeps a million-order final line fast.

#include <ostream>
#include <string>
#include <string_view>

#include "station/types.hpp"

namespace replay::detail {

class Sink {
  public:
    explicit Sink(std::ostream& out) : out_(out) { buf_.reserve(kFlushAt + 4096); }
    ~Sink() { flush(); }
    Sink(const Sink&) = delete;
    Sink& operator=(const Sink&) = delete;

    Sink& raw(std::string_view s) {
        buf_.append(s);
        if (buf_.size() >= kFlushAt) {
            flush();
        }
        return *this;
    }
    Sink& ch(char c) {
        buf_.push_back(c);
        return *this;
    }
    /// A JSON string literal with escapes.
    Sink& str(std::string_view s);
    /// A non-negative integer.
    Sink& integer(long long v);
    /// A number rounded half up to 2 decimals, trailing zeros dropped ("1", "0.83").
    Sink& money(double v) { return cents(v, true); }
    /// A number rounded half up to 2 decimals, always with 2 decimals ("1.00").
    Sink& fixed2(double v) { return cents(v, false); }
    /// "HH:MM:SS" of the time of day.
    Sink& hms(station::TimeMs t);
    void flush() {
        out_.write(buf_.data(), static_cast<std::streamsize>(buf_.size()));
        buf_.clear();
    }

  private:
    Sink& cents(double v, bool trim);

    static constexpr std::size_t kFlushAt = 1 << 20;
    std::ostream& out_;
    std::string buf_;
};

/// The largest amount of money (in yuan) written in exact cents; beyond it a double has
/// no cents left to round to.
inline constexpr double kMaxExactYuan = 1e13;

/// Rounds half up to whole cents (values are non-negative; a tiny bias absorbs binary
/// representation error such as 1.005 stored as 1.00499999…). Defined for
/// |v| < kMaxExactYuan only.
long long to_cents(double v);

}  // namespace replay::detail

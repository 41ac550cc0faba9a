#pragma once
/// @file The scenario notation of scenario-format.md: parsing a text into timed events.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "station/types.hpp"

namespace replay {

enum class EventKind { Arrive, Cancel, Change, Fault, Recover };

/// One event tuple, e.g. `(A,V1,T,40)`. Its string views point into the scenario text,
/// which must outlive the event.
struct ScenarioEvent {
    station::TimeMs at = 0;  ///< day * 24 h + time of day; day 0 is the first event's day
    int line = 0;            ///< 1-based source line
    std::string_view text;   ///< the tuple as written, e.g. "(A,V1,T,40)"
    EventKind kind = EventKind::Arrive;
    std::string_view subject;            ///< car or pile id
    std::optional<station::Mode> mode;   ///< Arrive: the mode; Change: nullopt keeps it
    std::optional<double> kwh;           ///< Arrive: the amount; Change: nullopt keeps it
    station::TimeMs fault_duration = 0;  ///< Fault: 0 = until recovered
};

/// Reads a scenario one event at a time, without copying: large scenarios are played
/// as they are read. After `next` returns false, `failed()` tells an error from the end.
class ScenarioReader {
  public:
    explicit ScenarioReader(std::string_view text);
    /// The next event, or false at the end of the text or at the first error.
    bool next(ScenarioEvent& event);
    bool failed() const { return !error_.empty(); }
    int error_line() const { return error_line_; }
    const std::string& error() const { return error_; }

  private:
    bool fail(std::string reason);
    bool start_line();

    std::string_view rest_;  // text after the current line
    std::string_view line_;  // unread part of the current line's events
    int line_number_ = 0;
    station::TimeMs line_time_ = 0;
    station::TimeMs day_shift_ = 0;
    std::optional<station::TimeMs> last_time_;
    bool line_has_event_ = false;
    bool any_event_ = false;
    bool done_ = false;
    int error_line_ = 0;
    std::string error_;
};

/// Parse result: the events, or the first error with its line.
struct ScenarioParse {
    std::vector<ScenarioEvent> events;
    int error_line = 0;  ///< 0 when there is no error
    std::string error;

    bool ok() const { return error.empty(); }
};

/// Parses a whole scenario into memory (the events view into `text`). Never throws; a
/// scenario without events is an error.
ScenarioParse parse_scenario(std::string_view text);

}  // namespace replay

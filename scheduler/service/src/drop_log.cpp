#include "service/drop_log.hpp"

namespace service {

DropLog::Note DropLog::dropped(std::int64_t wall_ms) {
    Note note;
    const std::int64_t second = wall_ms / 1000;
    if (second != second_) {
        note.unlogged = unlogged_;
        second_ = second;
        logged_ = 0;
        unlogged_ = 0;
    }
    if (logged_++ < per_second_) {
        note.log = true;
    } else {
        ++unlogged_;
    }
    return note;
}

}  // namespace service

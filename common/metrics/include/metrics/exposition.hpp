#pragma once
/// @file The pieces of the text exposition format: how a number, a label value and a help
/// text are written.

#include <string>
#include <string_view>

namespace metrics {

/// A sample value: integers without a fraction, +Inf, -Inf, NaN, otherwise the shortest
/// text that reads back to the same double.
std::string format_value(double v);

/// A label value between its quotes: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view v);

/// A HELP text: backslash and line feed escaped.
std::string escape_help(std::string_view v);

/// True for a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, with `label`, a valid label
/// name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__").
bool valid_name(std::string_view name, bool label = false);

}  // namespace metrics

// Durations as written in the config ("500ms", "2ms", "30s", "1m", "250us").
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"

namespace sw {

// Accepts a non-negative decimal number followed by ns, us, ms, s, m or h ("1.5ms" too).
Result<std::chrono::nanoseconds> ParseDuration(const std::string& text);
// Shortest exact form: 2000000ns -> "2ms", 1500us -> "1.5ms".
std::string FormatDuration(std::chrono::nanoseconds d);

}  // namespace sw

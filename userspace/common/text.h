// Terminal text for `status` and `top`: widths in columns (UTF-8 aware, so "…" counts as one),
// names shortened in the middle, padding.
#pragma once

#include <cstddef>
#include <string>

namespace sw {

// Columns `s` takes on a terminal: UTF-8 code points (no wide characters are produced here).
size_t DisplayWidth(const std::string& s);
// `s` when it fits in `width` columns; otherwise its start and end joined by "…", e.g.
// "/kubepods/bu…/pod1234/ctr" — both ends of a cgroup path tell workloads apart.
std::string ShortenMiddle(const std::string& s, size_t width);
// `s` cut to `width` columns with a trailing "…" when longer.
std::string ShortenEnd(const std::string& s, size_t width);
// Padded with spaces to `width` columns (left- or right-aligned); never cut.
std::string PadRight(const std::string& s, size_t width);
std::string PadLeft(const std::string& s, size_t width);

}  // namespace sw

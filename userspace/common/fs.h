// Small read-only helpers for /proc, /sys and cgroupfs. Every caller passes a full path built from
// a configurable root, so the same code runs against fake trees in tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace sw {

// Whole file as a string. A missing file is an Error with code ENOENT.
Result<std::string> ReadFile(const std::string& path);
// First line of a file, without the newline.
Result<std::string> ReadLine(const std::string& path);
// A file holding one signed integer ("max" is not an integer: callers handle it).
Result<int64_t> ReadInt(const std::string& path);
// Names of the entries of a directory (no "." or ".."), sorted.
Result<std::vector<std::string>> ListDir(const std::string& path);
bool PathExists(const std::string& path);
// "a/b" + "c" with exactly one slash between.
std::string JoinPath(const std::string& a, const std::string& b);
// Trim ASCII whitespace at both ends.
std::string Trim(const std::string& s);
std::vector<std::string> Split(const std::string& s, char sep);

}  // namespace sw

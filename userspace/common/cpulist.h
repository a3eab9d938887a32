// CPU sets in the kernel's list format ("0-3,8,10-11"), as used by cpuset.cpus,
// /sys/devices/system/cpu/online and Cpus_allowed_list.
#pragma once

#include <set>
#include <string>

#include "common/result.h"

namespace sw {

using CpuSet = std::set<int>;

// Parses "0-3,8"; empty string or whitespace is the empty set. Errors name the bad token.
Result<CpuSet> ParseCpuList(const std::string& text);
// Canonical form with ranges: {0,1,2,5} -> "0-2,5"; empty set -> "".
std::string FormatCpuList(const CpuSet& cpus);

}  // namespace sw

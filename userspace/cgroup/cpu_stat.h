// Readers of a cgroup's CPU accounting files: cpu.stat (v1 and v2 field names, normalised to
// nanoseconds), cpuacct.usage (v1) and PSI cpu.pressure. Parsers take the text and the file name
// (for error messages) so they are tested on real-format fixtures; CgroupStatReader joins them
// with the detected layout. A cgroup that vanished between listing and reading (ENOENT, ENODEV)
// is an absent sample, not an error; absent PSI (file missing, EOPNOTSUPP when PSI is off) too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cgroup/layout.h"
#include "common/open_file_cache.h"
#include "common/result.h"

namespace sw {

// cpu.stat of a cpu-controller cgroup (v1 and v2 names normalised).
struct CpuStatSample {
  uint64_t nr_periods = 0;
  uint64_t nr_throttled = 0;
  uint64_t throttled_ns = 0;
};

struct PsiSample {  // cpu.pressure "total=" fields, microseconds in the file, ns here
  uint64_t some_total_ns = 0;
  uint64_t full_total_ns = 0;
};

struct CpuStatReading {
  // Absent on v2 where the cgroup has no CFS bandwidth fields: the root cgroup, and cgroups
  // whose parent does not enable the cpu controller (only usage_usec & co. are shown there).
  std::optional<CpuStatSample> stat;
  std::optional<uint64_t> usage_ns;  // v2 usage_usec; v1 cpu.stat has no usage
};

// v1: nr_periods, nr_throttled, throttled_time (ns). v2: nr_periods, nr_throttled,
// throttled_usec, usage_usec (the three bandwidth fields all or none). Other fields are ignored; a
// missing required field or a malformed number is an error naming `origin`.
Result<CpuStatReading> ParseCpuStat(const std::string& text, CgroupVersion version,
                                    const std::string& origin);
// cpuacct.usage: one integer, nanoseconds.
Result<uint64_t> ParseCpuacctUsage(const std::string& text, const std::string& origin);
// "some avg10=0.00 avg60=0.00 avg300=0.00 total=123" and an optional "full ..." line (absent
// before Linux 5.13 for cpu); totals in microseconds.
Result<PsiSample> ParsePsi(const std::string& text, const std::string& origin);

// Keeps the files it reads open between calls (OpenFileCache): reading the same cgroups every
// interval costs a pread each instead of an open. Not thread-safe: one reader per thread.
class CgroupStatReader {
 public:
  explicit CgroupStatReader(CgroupMounts layout,
                            size_t max_open_files = OpenFileCache::DefaultMaxOpen());

  // All paths are "/"-rooted cgroup paths in the cpu hierarchy. nullopt: cgroup gone / not there.
  Result<std::optional<CpuStatReading>> ReadCpuStat(const std::string& cgroup_path);
  // v1: cpuacct.usage of the same path in the cpuacct hierarchy; v2: cpu.stat usage_usec.
  Result<std::optional<uint64_t>> ReadUsageNs(const std::string& cgroup_path);
  // nullopt when PSI is off or the kernel/hierarchy has no per-cgroup PSI (v1); learned once.
  Result<std::optional<PsiSample>> ReadPsi(const std::string& cgroup_path);
  // Closes the files of cgroups not read since the last EndPass (call after each interval's
  // reads).
  void EndPass() { files_.Sweep(); }
  size_t open_files() const { return files_.open_files(); }

  const CgroupMounts& layout() const { return layout_; }

 private:
  Result<std::optional<std::string>> ReadOptional(const std::string& path);

  CgroupMounts layout_;
  OpenFileCache files_;
  bool psi_unavailable_ = false;
};

}  // namespace sw

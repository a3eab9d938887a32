// The agent's own numbers for /metrics: the process (standard process_* metrics, read from
// /proc/<pid>) and the control loop (phase times, runs, overruns, last run).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/result.h"

namespace sw {

struct ProcessStats {
  double start_time_seconds = 0;  // unix time
  double cpu_seconds = 0;         // user + system
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  std::optional<uint64_t> max_fds;  // soft RLIMIT_NOFILE; none when "unlimited"
};

// Reads <proc_root>/<pid>/{stat,fd/,limits} and <proc_root>/stat (btime). ticks_per_second and
// page_size default to this machine's (sysconf). Error naming the file that could not be read.
Result<ProcessStats> ReadProcessStats(const std::string& proc_root = "/proc",
                                      const std::string& pid = "self", long ticks_per_second = 0,
                                      long page_size = 0);

struct LoopStats {
  // collect | controller | publish, cumulative; whole nanoseconds so the sum stays exact.
  std::map<std::string, uint64_t> phase_ns;
  uint64_t runs = 0;
  uint64_t overruns = 0;
  double last_run_unix_seconds = 0;  // 0: not yet
};

// Kubernetes Events (kubernetes.events), cumulative.
struct EventStats {
  uint64_t posted = 0, failed = 0, dropped = 0;
};

struct SelfStats {
  std::string mode;                     // observe | dry-run | enforce
  std::optional<ProcessStats> process;  // none when /proc could not be read
  LoopStats loop;
  std::optional<EventStats> events;  // only when events are on
};

}  // namespace sw

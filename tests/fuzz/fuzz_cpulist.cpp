// CPU lists (cpuset.cpus, config reserved_cpus, sysfs): parse, and the canonical form round-trips.
#include "common/cpulist.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto cpus = sw::ParseCpuList(FuzzText(data, size));
  if (!cpus) return 0;
  std::string canonical = sw::FormatCpuList(*cpus);
  auto again = sw::ParseCpuList(canonical);
  FUZZ_CHECK(again.ok() && *again == *cpus);
  return 0;
}

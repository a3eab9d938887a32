// The kernel's accounting files: cpu.stat (v1, v2), cpuacct.usage and PSI cpu.pressure.
#include "cgroup/cpu_stat.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text = FuzzText(data, size);
  (void)sw::ParseCpuStat(text, sw::CgroupVersion::kV1, "cpu.stat");
  (void)sw::ParseCpuStat(text, sw::CgroupVersion::kV2, "cpu.stat");
  (void)sw::ParseCpuacctUsage(text, "cpuacct.usage");
  (void)sw::ParsePsi(text, "cpu.pressure");
  return 0;
}

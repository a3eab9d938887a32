// /proc/<tid>/stat, /proc/<tid>/status and /proc/<tid>/cgroup (a task's comm is its owner's).
#include "cgroup/tasks.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text = FuzzText(data, size);
  (void)sw::ParseTaskStat(text, 42);
  (void)sw::ParseTgid(text, 42);
  for (const char* controller : {"", "cpuset", "cpu"})
    (void)sw::ParseTaskCgroup(text, controller, "/proc/42/cgroup");
  return 0;
}

// Cost of reading every workload's cgroup files once per interval, as the collector does
// (cpu.stat, CPU usage, PSI through CgroupStatReader): files kept open and re-read with pread
// (the agent) against open+read+close every time (an OpenFileCache of size 0), in CPU time of
// the reading thread, alternating rounds in one run so the ratio holds on a noisy machine. Creates
// N real cgroups (root) and removes them. Prints numbers only.
//
//   build/bench/sw_cgroup_read_bench [cgroups=1000] [rounds=20]
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "cgroup/cpu_stat.h"
#include "cgroup/layout.h"
#include "common/fs.h"

namespace {

std::vector<std::string> Dirs(const sw::CgroupMounts& m, const std::string& cg) {
  std::vector<std::string> d{sw::JoinPath(m.cpu.path, cg)};
  if (m.cpuacct && m.cpuacct->path != m.cpu.path) d.push_back(sw::JoinPath(m.cpuacct->path, cg));
  return d;
}

// CPU time of this thread: on a shared machine wall time mostly measures the others.
double ThreadCpuUs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// CPU microseconds per cgroup for one pass over all of them.
double Pass(sw::CgroupStatReader& r, const std::vector<std::string>& cgroups) {
  const double t0 = ThreadCpuUs();
  for (const std::string& cg : cgroups) {
    (void)r.ReadCpuStat(cg);
    (void)r.ReadUsageNs(cg);
    (void)r.ReadPsi(cg);
  }
  r.EndPass();
  return (ThreadCpuUs() - t0) / cgroups.size();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 20;
  auto mounts = sw::DetectCgroupMounts();
  if (!mounts) {
    std::fprintf(stderr, "%s\n", mounts.error().message.c_str());
    return 1;
  }
  const std::string top = "/schedwarden-bench-" + std::to_string(getpid());
  std::vector<std::string> cgroups;
  for (const std::string& d : Dirs(*mounts, top)) mkdir(d.c_str(), 0755);
  for (int i = 0; i < n; i++) {
    cgroups.push_back(top + "/w" + std::to_string(i));
    for (const std::string& d : Dirs(*mounts, cgroups.back())) mkdir(d.c_str(), 0755);
  }
  std::vector<double> cached, uncached;
  {
    sw::CgroupStatReader keep(*mounts);  // the agent's reader
    sw::CgroupStatReader reopen(*mounts, /*max_open_files=*/0);
    Pass(keep, cgroups);  // first pass opens the files
    for (int r = 0; r < rounds; r++) {
      uncached.push_back(Pass(reopen, cgroups));
      cached.push_back(Pass(keep, cgroups));
    }
    std::printf("cgroups %d, rounds %d, files kept open %zu\n", n, rounds, keep.open_files());
  }
  for (auto it = cgroups.rbegin(); it != cgroups.rend(); ++it)
    for (const std::string& d : Dirs(*mounts, *it)) rmdir(d.c_str());
  for (const std::string& d : Dirs(*mounts, top)) rmdir(d.c_str());
  const double c = Median(cached), u = Median(uncached);
  std::printf("open+read+close every interval: %.2f us CPU per cgroup (median)\n", u);
  std::printf("kept open, pread:               %.2f us CPU per cgroup (median)\n", c);
  std::printf("ratio kept/reopened: %.2f; at 2 reads per second: %.2f%% vs %.2f%% of a core\n",
              c / u, n * 2 * c / 1e4, n * 2 * u / 1e4);
  return 0;
}

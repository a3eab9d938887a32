// One case of the demotion measurement in kubelet's cgroup layout (bench/k8s/demotion.sh runs
// the matrix and prints the table). Builds, in the cpu hierarchy, a kubelet-like cgroupfs tree
// with kubelet's real weights under <cpu>/<prefix>/kubepods:
//   kubepods 2048 (2 CPUs allocatable), besteffort 2, burstable 1024 + 102 (sum of requests),
//   burstable/podv/ctr (1 CPU request: 1024) holding the latency-critical probe,
//   the hog pod (2 threads spinning): besteffort/podh/ctr (2) or burstable/podh/ctr (100m: 102).
// The action goes through the enforcer (Enforcer::Demote, the agent's path), at the level
// asked for; "lca" on a different branch is kubelet's besteffort level, which the agent refuses
// to write: the bench writes it itself, to measure what the agent gives up.
// Prints one line: "<branch> <action> <level> <p50_us> <p99_us> <p999_us> <mean_runq_us> <n>",
// where p* are the probe's wake-up delays (timer to running: run-queue wait plus timer slack)
// and mean_runq_us is the kernel's own run_delay/pcount (/proc/<pid>/schedstat) over the window.
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cgroup/layout.h"
#include "common/fs.h"
#include "enforce/enforcer.h"
#include "policy/ladder.h"

namespace {

long long NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void Put(const std::string& path, const std::string& value) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f || std::fputs(value.c_str(), f) < 0 || std::fclose(f) != 0) {
    std::fprintf(stderr, "demotion_bench: cannot write %s = %s: %s\n", path.c_str(), value.c_str(),
                 std::strerror(errno));
    std::exit(2);
  }
}

void Join(const std::string& dir) { Put(dir + "/cgroup.procs", std::to_string(getpid())); }

void* Spin(void*) {
  for (;;) {
  }
  return nullptr;
}

// The hog: two spinning threads in `dir` (one per CPU of this machine).
pid_t StartHog(const std::string& dir) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    Join(dir);
    pthread_t t;
    pthread_create(&t, nullptr, Spin, nullptr);
    Spin(nullptr);
  }
  return pid;
}

std::pair<unsigned long long, unsigned long long> SchedStat() {
  unsigned long long run = 0, wait = 0, slices = 0;
  FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (f) {
    if (std::fscanf(f, "%llu %llu %llu", &run, &wait, &slices) != 3) wait = slices = 0;
    std::fclose(f);
  }
  return {wait, slices};
}

// The probe: wakes every 1 ms on an absolute timer and burns 100 us; after `warmup_ms` records
// how late each wake-up was for `window_ms`, then writes the line's numbers to `fd`.
pid_t StartProbe(const std::string& dir, int warmup_ms, int window_ms, int fd) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  Join(dir);
  const long long period = 1000000, work = 100000, start = NowNs();
  const long long from = start + warmup_ms * 1000000LL, until = from + window_ms * 1000000LL;
  std::vector<long long> late;
  std::pair<unsigned long long, unsigned long long> s0{0, 0};
  long long next = start + period;
  for (;;) {
    timespec ts{static_cast<time_t>(next / 1000000000LL), static_cast<long>(next % 1000000000LL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
    }
    const long long woke = NowNs();
    if (woke >= until) break;
    if (woke >= from) {
      if (late.empty()) s0 = SchedStat();
      late.push_back(woke - next);
    }
    while (NowNs() - woke < work) {
    }
    next += period;
    if (next < NowNs()) next = NowNs() + period;
  }
  auto s1 = SchedStat();
  std::sort(late.begin(), late.end());
  auto q = [&](double p) {
    return late.empty() ? 0.0 : late[static_cast<size_t>(p * (late.size() - 1))] / 1000.0;
  };
  const double mean_runq =
      s1.second > s0.second ? (s1.first - s0.first) / 1000.0 / (s1.second - s0.second) : 0.0;
  dprintf(fd, "%.0f %.0f %.0f %.1f %zu\n", q(0.5), q(0.99), q(0.999), mean_runq, late.size());
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: %s same|different none|pod|lca|tasks|agent <window_ms> <prefix>\n"
                 "  (root; prefix: a top-level cpu cgroup name of its own, removed at the end)\n",
                 argv[0]);
    return 2;
  }
  const std::string branch = argv[1], action = argv[2], prefix = argv[4];
  const int window_ms = std::atoi(argv[3]);
  auto mounts = sw::DetectCgroupMounts();
  if (!mounts) {
    std::fprintf(stderr, "demotion_bench: %s\n", mounts.error().message.c_str());
    return 2;
  }
  const std::string cpu = mounts->cpu.path;
  const std::string top = "/" + prefix, kp = top + "/kubepods";
  const std::string victim = kp + "/burstable/podv";
  const std::string hog = kp + (branch == "same" ? "/burstable/podh" : "/besteffort/podh");
  std::vector<std::string> dirs = {
      top, kp, kp + "/besteffort", kp + "/burstable", victim, victim + "/ctr", hog, hog + "/ctr"};
  for (const std::string& d : dirs)
    if (mkdir((cpu + d).c_str(), 0755) != 0 && errno != EEXIST) {
      std::fprintf(stderr, "demotion_bench: mkdir %s%s: %s\n", cpu.c_str(), d.c_str(),
                   std::strerror(errno));
      return 2;
    }
  // The bench's top level outweighs the rest of this shared machine (other users' builds), so
  // that what is measured is the kubelet tree's own competition.
  Put(cpu + top + "/cpu.shares", "262144");
  Put(cpu + kp + "/cpu.shares", "2048");
  Put(cpu + kp + "/besteffort/cpu.shares", "2");
  Put(cpu + kp + "/burstable/cpu.shares", "1126");
  Put(cpu + victim + "/cpu.shares", "1024");
  Put(cpu + victim + "/ctr/cpu.shares", "1024");
  const std::string hog_shares = branch == "same" ? "102" : "2";
  Put(cpu + hog + "/cpu.shares", hog_shares);
  Put(cpu + hog + "/ctr/cpu.shares", hog_shares);

  const pid_t hog_pid = StartHog(cpu + hog + "/ctr");
  int fds[2];
  if (pipe(fds) != 0) return 2;
  const int warmup_ms = 1500;
  const pid_t probe = StartProbe(cpu + victim + "/ctr", warmup_ms, window_ms, fds[1]);
  close(fds[1]);
  usleep(500000);  // the hog's threads exist

  // The action, through the enforcer as the agent would call it.
  sw::EnforcerConfig ec;
  ec.state_dir = "/tmp/k8s-demote-bench-state." + std::to_string(getpid());
  ec.mounts = *mounts;
  sw::RealSystemWriter writer;
  auto enforcer = sw::Enforcer::Create(ec, writer);
  if (!enforcer) {
    std::fprintf(stderr, "demotion_bench: %s\n", enforcer.error().message.c_str());
    return 2;
  }
  const std::string lca_child = branch == "same" ? hog : kp + "/besteffort";
  std::string level = "-";
  std::optional<std::string> idle;
  bool demote = true, wrote_qos = false;
  if (action == "pod") {
    idle = hog;
  } else if (action == "lca" && branch == "same") {
    idle = lca_child;
  } else if (action == "lca") {
    Put(cpu + lca_child + "/cpu.idle", "1");  // kubelet's level: the agent never writes it
    wrote_qos = true;
    idle = "";
  } else if (action == "tasks") {
    idle = "";
  } else if (action == "agent") {
    idle = sw::DemotionLevelFor(victim, hog, {}).idle_cgroup;
  } else {
    demote = false;
  }
  if (demote) {
    level = wrote_qos ? lca_child : idle->empty() ? "threads-only" : *idle;
    auto r = (*enforcer)->Demote("hog", hog, idle);
    if (!r) std::fprintf(stderr, "demotion_bench: demote: %s\n", r.error().message.c_str());
  }
  char buf[256] = {0};
  ssize_t n = read(fds[0], buf, sizeof buf - 1);
  waitpid(probe, nullptr, 0);
  kill(hog_pid, SIGKILL);
  waitpid(hog_pid, nullptr, 0);
  sw::RestoreReport rep = (*enforcer)->Shutdown();
  if (wrote_qos) {
    Put(cpu + lca_child + "/cpu.idle", "0");
    Put(cpu + lca_child + "/cpu.shares", "2");
  }
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) rmdir((cpu + *it).c_str());
  std::remove((ec.state_dir + "/journal").c_str());
  std::remove((ec.state_dir + "/journal.lock").c_str());
  rmdir(ec.state_dir.c_str());
  if (!rep.Complete()) std::fprintf(stderr, "demotion_bench: restore: %s\n", rep.Summary().c_str());
  if (n <= 0) return 1;
  std::printf("%s %s %s %s", branch.c_str(), action.c_str(), level.c_str(), buf);
  return 0;
}

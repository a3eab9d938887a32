// sw_scale_load: the load of bench/scale.sh. Creates N cgroups under /<parent> in the cpu
// hierarchy (plus cpuacct and cpuset where they are separate v1 hierarchies) of whatever layout
// the machine has (sw::DetectCgroupMounts), and runs one process per cgroup with K threads, each
// waking every period and spinning for a few microseconds. Optionally churns: creates short-lived
// cgroups (one process each, same wake-up loop) and removes them when their process exits.
//
// The driver itself is single-threaded (workers are forked from it) and reports on stdout:
//   ready workloads=<n> threads=<n> parent=/<name> hierarchies=<dir>,<dir>
//   sample mono_ns=<ns> wakeups=<n> late=<n> churn_created=<n> churn_removed=<n>
//          churn_wakeups=<n> workers=<alive>        (one line, on SIGUSR1; wakeups and late
//                                                   count the steady workers' threads)
//   cleaned                                         (after SIGINT/SIGTERM, everything removed)
// It kills its workers and removes every cgroup it made on SIGINT/SIGTERM, on any error, and
// when its parent (the script) dies (PR_SET_PDEATHSIG). Workers die with the driver.
//
// Usage: sw_scale_load [--workloads N] [--threads K] [--period-ms MS] [--work-us US]
//                      [--parent NAME] [--churn-per-minute R] [--churn-lifetime-ms MS]
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "cgroup/layout.h"
#include "common/fs.h"

namespace {

struct Options {
  int workloads = 1000;
  int threads = 1;
  int period_ms = 100;
  int work_us = 10;
  std::string parent = "sw-bench-scale";
  int churn_per_minute = 0;
  int churn_lifetime_ms = 1000;
};

// Counters shared with the workers (MAP_SHARED before fork).
struct Shared {
  std::atomic<uint64_t> wakeups;        // by the steady workers' threads
  std::atomic<uint64_t> churn_wakeups;  // by the churn workers
  std::atomic<uint64_t> late;           // ticks missed because a thread woke after the next one
  std::atomic<uint64_t> ready;          // steady workers placed in their cgroups
  std::atomic<uint64_t> failures;       // workers that could not join their cgroup
};

struct Hierarchy {
  std::string root;
  bool v1_cpuset = false;  // needs cpuset.cpus / cpuset.mems before tasks can join
};

Options g_opt;
Shared* g_shared = nullptr;
std::atomic<uint64_t>* g_counter = nullptr;  // in a worker: which counter its wake-ups go to
std::vector<Hierarchy> g_hier;

uint64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

bool WriteFile(const std::string& path, const std::string& value, std::string* err) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    *err = "writing \"" + value + "\" to " + path + ": " + std::strerror(errno);
    if (fd >= 0) close(fd);
    return false;
  }
  close(fd);
  return true;
}

// Creates /<rel> in every hierarchy; v1 cpuset gets its parent's cpus and mems.
bool MakeCgroup(const std::string& rel, std::string* err) {
  for (const auto& h : g_hier) {
    std::string dir = h.root + rel;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      *err = "mkdir " + dir + ": " + std::strerror(errno);
      return false;
    }
    if (h.v1_cpuset) {
      std::string up = dir.substr(0, dir.rfind('/'));
      for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
        auto v = sw::ReadLine(up + "/" + f);
        if (!v.ok()) {
          *err = v.error().message;
          return false;
        }
        if (!WriteFile(dir + "/" + f, *v, err)) return false;
      }
    }
  }
  return true;
}

// rmdir in every hierarchy; true when gone everywhere (absent counts as gone).
bool RemoveCgroup(const std::string& rel) {
  bool gone = true;
  for (const auto& h : g_hier) {
    std::string dir = h.root + rel;
    if (rmdir(dir.c_str()) != 0 && errno != ENOENT) gone = false;
  }
  return gone;
}

struct LoopArgs {
  uint64_t start_ns;  // first wake-up
  uint64_t end_ns;    // 0: forever
};

void Spin(uint64_t ns) {
  uint64_t until = MonoNs() + ns;
  while (MonoNs() < until) {
  }
}

void* WakeLoop(void* p) {
  const LoopArgs a = *static_cast<LoopArgs*>(p);
  const uint64_t period = static_cast<uint64_t>(g_opt.period_ms) * 1000000ull;
  uint64_t next = a.start_ns;
  while (a.end_ns == 0 || next < a.end_ns) {
    timespec ts{static_cast<time_t>(next / 1000000000ull), static_cast<long>(next % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    g_counter->fetch_add(1, std::memory_order_relaxed);
    Spin(static_cast<uint64_t>(g_opt.work_us) * 1000ull);
    next += period;
    uint64_t now = MonoNs();
    if (now > next) {  // overslept: skip the ticks already past, count them
      uint64_t missed = (now - next) / period + 1;
      if (g_counter == &g_shared->wakeups)
        g_shared->late.fetch_add(missed, std::memory_order_relaxed);
      next += missed * period;
    }
  }
  return nullptr;
}

// Child side of a worker: join the cgroup, start `threads` wake loops staggered by `offset_ns`.
[[noreturn]] void RunWorker(const std::string& rel, int threads, uint64_t first_ns,
                            uint64_t spacing_ns, uint64_t end_ns, bool steady) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) _exit(1);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  std::string err;
  const std::string pid = std::to_string(getpid());
  for (const auto& h : g_hier) {
    if (!WriteFile(h.root + rel + "/cgroup.procs", pid, &err)) {
      std::fprintf(stderr, "sw_scale_load: %s\n", err.c_str());
      g_shared->failures.fetch_add(1);
      _exit(1);
    }
  }
  g_counter = steady ? &g_shared->wakeups : &g_shared->churn_wakeups;
  if (steady) g_shared->ready.fetch_add(1);
  std::vector<LoopArgs> args(threads);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (int t = 0; t < threads; t++) args[t] = {first_ns + t * spacing_ns, end_ns};
  std::vector<pthread_t> ids(threads);
  for (int t = 1; t < threads; t++) {
    if (pthread_create(&ids[t], &attr, WakeLoop, &args[t]) != 0) {
      std::fprintf(stderr, "sw_scale_load: pthread_create in %s failed\n", rel.c_str());
      _exit(1);
    }
  }
  WakeLoop(&args[0]);
  for (int t = 1; t < threads; t++) pthread_join(ids[t], nullptr);
  _exit(0);
}

std::map<pid_t, std::string> g_steady;  // pid -> cgroup
std::map<pid_t, std::string> g_churn;
std::deque<std::string> g_unremoved;  // churn cgroups whose rmdir must be retried
uint64_t g_churn_created = 0, g_churn_removed = 0;
std::string g_parent_rel;

void Sample() {
  std::printf(
      "sample mono_ns=%llu wakeups=%llu late=%llu churn_created=%llu churn_removed=%llu "
      "churn_wakeups=%llu workers=%zu\n",
      static_cast<unsigned long long>(MonoNs()),
      static_cast<unsigned long long>(g_shared->wakeups.load()),
      static_cast<unsigned long long>(g_shared->late.load()),
      static_cast<unsigned long long>(g_churn_created),
      static_cast<unsigned long long>(g_churn_removed),
      static_cast<unsigned long long>(g_shared->churn_wakeups.load()), g_steady.size());
  std::fflush(stdout);
}

void Reap() {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (auto it = g_churn.find(pid); it != g_churn.end()) {
      if (RemoveCgroup(it->second))
        g_churn_removed++;
      else
        g_unremoved.push_back(it->second);
      g_churn.erase(it);
    } else if (auto s = g_steady.find(pid); s != g_steady.end()) {
      std::fprintf(stderr, "sw_scale_load: worker of %s exited (status %d)\n", s->second.c_str(),
                   status);
      g_steady.erase(s);
    }
  }
}

// Kills every worker, removes every cgroup (retrying while the kernel still has them busy).
bool Cleanup() {
  for (auto* m : {&g_steady, &g_churn})
    for (const auto& [pid, cg] : *m) kill(pid, SIGKILL);
  std::vector<std::string> cgroups;
  for (auto* m : {&g_steady, &g_churn}) {
    for (const auto& [pid, cg] : *m) {
      waitpid(pid, nullptr, 0);
      cgroups.push_back(cg);
    }
    m->clear();
  }
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  cgroups.insert(cgroups.end(), g_unremoved.begin(), g_unremoved.end());
  // Also anything left under the parent (e.g. a cgroup made just before a failure).
  for (const auto& h : g_hier) {
    auto names = sw::ListDir(h.root + g_parent_rel);
    if (!names.ok()) continue;
    for (const auto& n : *names) {
      struct stat st;
      if (stat((h.root + g_parent_rel + "/" + n).c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        cgroups.push_back(g_parent_rel + "/" + n);
    }
  }
  cgroups.push_back(g_parent_rel);
  bool ok = true;
  for (const auto& cg : cgroups) {
    bool gone = false;
    for (int i = 0; i < 200 && !(gone = RemoveCgroup(cg)); i++) usleep(10000);
    if (!gone) {
      std::fprintf(stderr, "sw_scale_load: could not remove cgroup %s\n", cg.c_str());
      ok = false;
    }
  }
  return ok;
}

int Usage() {
  std::fprintf(stderr,
               "usage: sw_scale_load [--workloads N] [--threads K] [--period-ms MS] [--work-us US]"
               " [--parent NAME] [--churn-per-minute R] [--churn-lifetime-ms MS]\n");
  return 2;
}

bool ParseArgs(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (i + 1 >= argc) return false;
    std::string v = argv[++i];
    char* end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    bool num = end && *end == '\0' && n >= 0;
    if (a == "--parent" && !v.empty() && v.find('/') == std::string::npos)
      g_opt.parent = v;
    else if (!num)
      return false;
    else if (a == "--workloads")
      g_opt.workloads = static_cast<int>(n);
    else if (a == "--threads" && n >= 1)
      g_opt.threads = static_cast<int>(n);
    else if (a == "--period-ms" && n >= 1)
      g_opt.period_ms = static_cast<int>(n);
    else if (a == "--work-us")
      g_opt.work_us = static_cast<int>(n);
    else if (a == "--churn-per-minute")
      g_opt.churn_per_minute = static_cast<int>(n);
    else if (a == "--churn-lifetime-ms" && n >= 1)
      g_opt.churn_lifetime_ms = static_cast<int>(n);
    else
      return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!ParseArgs(argc, argv)) return Usage();
  prctl(PR_SET_PDEATHSIG, SIGTERM);  // the script died without its trap: still clean up

  auto mounts = sw::DetectCgroupMounts();
  if (!mounts.ok()) {
    std::fprintf(stderr, "sw_scale_load: %s\n", mounts.error().message.c_str());
    return 1;
  }
  g_hier.push_back({mounts->cpu.path, false});
  auto add = [](const sw::ControllerMount& m, bool cpuset) {
    for (const auto& h : g_hier)
      if (h.root == m.path) return;
    g_hier.push_back({m.path, cpuset && m.version == sw::CgroupVersion::kV1});
  };
  if (mounts->cpuacct) add(*mounts->cpuacct, false);
  if (mounts->cpuset) add(*mounts->cpuset, true);
  g_parent_rel = "/" + g_opt.parent;

  void* mem =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("sw_scale_load: mmap");
    return 1;
  }
  g_shared = new (mem) Shared{};

  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGCHLD, SIGHUP}) sigaddset(&sigs, s);
  sigprocmask(SIG_BLOCK, &sigs, nullptr);
  int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

  std::string err;
  bool failed = false;
  if (sw::PathExists(mounts->cpu.path + g_parent_rel)) {
    err = "cgroup " + g_parent_rel + " already exists in " + mounts->cpu.path +
          " (a previous run left it? remove it, or pass --parent)";
    g_parent_rel.clear();  // not ours: leave it alone
    std::fprintf(stderr, "sw_scale_load: %s\n", err.c_str());
    return 1;
  }
  if (!MakeCgroup(g_parent_rel, &err)) failed = true;
  if (!failed && mounts->cpu.version == sw::CgroupVersion::kV2 &&
      !WriteFile(mounts->cpu.path + g_parent_rel + "/cgroup.subtree_control", "+cpu", &err))
    failed = true;

  const uint64_t period = static_cast<uint64_t>(g_opt.period_ms) * 1000000ull;
  const uint64_t total_threads = static_cast<uint64_t>(g_opt.workloads) * g_opt.threads;
  const uint64_t t0 = MonoNs() + 200000000ull;  // first wake-ups after the forks are done
  for (int w = 0; w < g_opt.workloads && !failed; w++) {
    char name[32];
    std::snprintf(name, sizeof(name), "/w%05d", w);
    std::string rel = g_parent_rel + name;
    if (!MakeCgroup(rel, &err)) {
      failed = true;
      break;
    }
    // Spread every thread's wake-up evenly over the period.
    uint64_t spacing = period / total_threads;
    uint64_t first = t0 + static_cast<uint64_t>(w) * g_opt.threads * spacing;
    pid_t pid = fork();
    if (pid < 0) {
      err = std::string("fork: ") + std::strerror(errno);
      failed = true;
      break;
    }
    if (pid == 0) RunWorker(rel, g_opt.threads, first, spacing, 0, true);
    g_steady[pid] = rel;
  }
  // Wait until every worker joined its cgroup.
  for (int i = 0; !failed && i < 6000; i++) {
    if (g_shared->failures.load() > 0) {
      err = "a worker could not join its cgroup (see above)";
      failed = true;
    } else if (g_shared->ready.load() == static_cast<uint64_t>(g_opt.workloads)) {
      break;
    }
    usleep(10000);
  }
  if (!failed && g_shared->ready.load() != static_cast<uint64_t>(g_opt.workloads)) {
    err = "workers did not start within 60 s";
    failed = true;
  }
  if (failed) {
    std::fprintf(stderr, "sw_scale_load: %s\n", err.c_str());
    Cleanup();
    return 1;
  }
  std::string names;
  for (const auto& h : g_hier) names += (names.empty() ? "" : ",") + h.root;
  std::printf("ready workloads=%d threads=%llu parent=%s hierarchies=%s\n", g_opt.workloads,
              static_cast<unsigned long long>(total_threads), g_parent_rel.c_str(), names.c_str());
  std::fflush(stdout);

  // Churn: a tick every 10 ms creates the cgroups that are due.
  int tfd = -1;
  uint64_t churn_start = MonoNs(), churn_seq = 0;
  if (g_opt.churn_per_minute > 0) {
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    itimerspec its{{0, 10000000}, {0, 10000000}};
    timerfd_settime(tfd, 0, &its, nullptr);
  }
  int rc = 0;
  bool stop = false;
  while (!stop) {
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(sfd, &rd);
    if (tfd >= 0) FD_SET(tfd, &rd);
    if (select(std::max(sfd, tfd) + 1, &rd, nullptr, nullptr, nullptr) < 0) {
      if (errno == EINTR) continue;
      std::perror("sw_scale_load: select");
      rc = 1;
      break;
    }
    if (FD_ISSET(sfd, &rd)) {
      signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si))) {
        if (si.ssi_signo == SIGUSR1) Sample();
        if (si.ssi_signo == SIGCHLD) Reap();
        if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP)
          stop = true;
        break;  // one per select round: signalfd is blocking
      }
    }
    if (tfd >= 0 && FD_ISSET(tfd, &rd)) {
      uint64_t ticks;
      if (read(tfd, &ticks, sizeof(ticks)) < 0) continue;
      for (size_t n = g_unremoved.size(); n > 0; n--) {  // retry busy rmdirs
        std::string cg = g_unremoved.front();
        g_unremoved.pop_front();
        if (RemoveCgroup(cg))
          g_churn_removed++;
        else
          g_unremoved.push_back(cg);
      }
      uint64_t due = (MonoNs() - churn_start) * g_opt.churn_per_minute / 60000000000ull;
      while (churn_seq < due && !stop) {
        char name[32];
        std::snprintf(name, sizeof(name), "/c%07llu", static_cast<unsigned long long>(churn_seq++));
        std::string rel = g_parent_rel + name;
        if (!MakeCgroup(rel, &err)) {
          std::fprintf(stderr, "sw_scale_load: churn: %s\n", err.c_str());
          rc = 1;
          stop = true;
          break;
        }
        uint64_t now = MonoNs();
        pid_t pid = fork();
        if (pid < 0) {
          std::fprintf(stderr, "sw_scale_load: churn fork: %s\n", std::strerror(errno));
          RemoveCgroup(rel);
          rc = 1;
          stop = true;
          break;
        }
        if (pid == 0)
          RunWorker(rel, 1, now + 1000000, 0,
                    now + static_cast<uint64_t>(g_opt.churn_lifetime_ms) * 1000000ull, false);
        g_churn[pid] = rel;
        g_churn_created++;
      }
    }
  }
  Sample();
  if (!Cleanup()) rc = 1;
  std::printf("cleaned\n");
  std::fflush(stdout);
  return rc;
}

// Privileged crash safety at scale (issue 13 part 3): the enforcement path (start-up reconcile,
// promote, demote, sweep, release, revert, shutdown) runs in a loop in a child process
// (sw_enforce_test_helper churn, the agent's Enforcer over the real kernel) and is killed with
// SIGKILL at seeded random moments (a step picked at random, 0-4 ms into it), then followed by
// `restore` (RestoreFromJournal, in this process) or by the next start (the child's start-up
// reconcile, itself killed at random moments sometimes). After each restore every task's affinity,
// policy, nice and cpuset / cpu cgroup, every cpuset's CPUs and every cpu cgroup's cpu.idle and
// weight must equal the snapshot taken before the first start. A driver over the Enforcer rather
// than the agent binary: the agent acts only on policy decisions over control intervals (seconds),
// so kills would rarely land inside an action; the driver runs the same Enforcer calls back to back
// in milliseconds. Set SW_CRASH_SEED to replay a run; the seed is printed.
#include <dirent.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "cgroup/layout.h"
#include "cgroup/tasks.h"
#include "common/fs.h"
#include "enforce/enforcer.h"
#include "enforce/restore.h"
#include "support/cgroup_layout.h"
#include "support/fault_injecting_writer.h"
#include "support/privileged.h"
#include "support/scoped_cgroups.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using namespace std::chrono_literals;

struct TaskState {
  uint64_t start = 0;
  pid_t tgid = 0;
  std::string affinity, cpuset_cg, cpu_cg;
  SchedAttr attr;
  bool operator==(const TaskState&) const = default;
};

struct MachineState {
  std::map<pid_t, TaskState> tasks;
  std::map<std::string, std::string> files;  // cpuset.cpus of every cpuset, cpu.idle, weight
};

void WalkCgroups(const std::string& dir, const std::vector<std::string>& names,
                 std::map<std::string, std::string>* out) {
  for (const std::string& n : names)
    if (auto v = ReadLine(JoinPath(dir, n)); v) (*out)[JoinPath(dir, n)] = Trim(*v);
  for (const std::string& child : ListChildCgroups(dir))
    WalkCgroups(JoinPath(dir, child), names, out);
}

// Other privileged tests on a shared machine make their own "/schedwarden-*" cgroups and
// demote their own tasks: those are not ours to compare (CI runs one test at a time anyway).
bool Foreign(const std::string& path, const std::string& ours) {
  size_t at = path.find("/schedwarden-");
  return at != std::string::npos && path.find(ours) == std::string::npos;
}

MachineState Snapshot(const CgroupMounts& m, const std::string& ours) {
  MachineState s;
  RealSystemWriter w;
  for (pid_t tid : ListAllThreads("/proc")) {
    auto st = ReadTaskStat("/proc", tid);
    if (!st || st->IsKernelTask()) continue;  // never touched (SafetyRails)
    auto attr = w.GetSchedAttr(tid);
    auto aff = w.GetAffinity(tid);
    auto cs = ReadTaskCgroup("/proc", tid, "cpuset");
    auto cpu = ReadTaskCgroup("/proc", tid, "cpu");
    if (!attr || !aff || !cs || !cpu) continue;  // exited meanwhile
    if (Foreign(*cs, ours) || Foreign(*cpu, ours)) continue;
    auto tgid = ReadTgid("/proc", tid);
    s.tasks[tid] = {st->start_time, tgid ? *tgid : 0, FormatCpuList(*aff), *cs, *cpu, *attr};
  }
  WalkCgroups(m.cpuset->path, {"cpuset.cpus", "cpuset.cpus.partition"}, &s.files);
  WalkCgroups(m.cpu.path, {"cpu.idle", "cpu.shares", "cpu.weight"}, &s.files);
  std::erase_if(s.files, [&](const auto& f) { return Foreign(f.first, ours); });
  return s;
}

// What differs, for tasks alive in both (same start time) and cgroups present in both; a
// cgroup the agent made (schedwarden.*) left behind is a difference too.
// `only_cpuset`: for tasks not of `own` processes compare the cpuset only (a machine shared
// with people whose processes change their own affinity, policy and cgroups meanwhile).
std::string Diff(const MachineState& a, const MachineState& b, const std::set<pid_t>& own = {},
                 bool only_cpuset = false) {
  std::string out;
  for (const auto& [tid, t] : a.tasks) {
    auto it = b.tasks.find(tid);
    if (it == b.tasks.end() || it->second.start != t.start || it->second == t) continue;
    const TaskState& u = it->second;
    if (only_cpuset && !own.count(t.tgid) && u.cpuset_cg == t.cpuset_cg) continue;
    out += "task " + std::to_string(tid) + ": affinity " + u.affinity + " (was " + t.affinity +
           "), cpuset " + u.cpuset_cg + " (was " + t.cpuset_cg + "), cpu " + u.cpu_cg + " (was " +
           t.cpu_cg + "), policy " + SchedPolicyName(u.attr.policy) + " nice " +
           std::to_string(u.attr.nice) + " (was " + SchedPolicyName(t.attr.policy) + " nice " +
           std::to_string(t.attr.nice) + ")\n";
  }
  for (const auto& [f, v] : a.files) {
    auto it = b.files.find(f);
    if (it != b.files.end() && it->second != v) out += f + ": " + it->second + " (was " + v + ")\n";
  }
  for (const auto& [f, v] : b.files)
    if (!a.files.count(f) && f.find("/schedwarden.") != std::string::npos)
      out += "left behind: " + f + "\n";
  return out;
}

pid_t Spawn(const std::vector<std::string>& args, int* out_fd) {
  int p[2] = {-1, -1};
  if (out_fd && pipe(p) != 0) return -1;
  std::vector<char*> argv{const_cast<char*>(SW_ENFORCE_TEST_HELPER)};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (out_fd) dup2(p[1], 1), close(p[0]);
    execv(SW_ENFORCE_TEST_HELPER, argv.data());
    _exit(4);
  }
  if (out_fd) close(p[1]), *out_fd = p[0];
  return pid;
}

// Reads the churn's step letters until `step` starts (false: it never did within 5 s).
bool WaitForStep(int fd, char step) {
  auto end = std::chrono::steady_clock::now() + 5s;
  char c;
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    if (read(fd, &c, 1) != 1) return false;
    if (c == step) return true;
  }
  return false;
}

// The last step letter a killed churn printed (its stdout read to EOF).
char LastStep(int fd, char last) {
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;)
    for (ssize_t i = 0; i < n; i++)
      if (std::strchr("CEPDSRVX", buf[i])) last = buf[i];
  close(fd);
  return last;
}

const char* StepName(char c) {
  switch (c) {
    case 'C':
      return "start-up reconcile";
    case 'E':
      return "create";
    case 'P':
      return "grant";
    case 'D':
      return "demote";
    case 'S':
      return "sweep";
    case 'R':
      return "release";
    case 'V':
      return "revert";
    case 'X':
      return "shutdown restore";
  }
  return "before start";
}

// Reads the child's stdout until `word` (true) or EOF (false).
bool WaitFor(int fd, const std::string& word) {
  std::string got;
  char buf[256];
  while (got.find(word) == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    got.append(buf, static_cast<size_t>(n));
  }
  return true;
}

// Processes killed and waited for, then test cgroups removed, whatever happens.
struct Cleanup {
  std::vector<pid_t> kids;
  std::string state_dir;
  ~Cleanup() {
    for (pid_t p : kids) kill(p, SIGKILL), waitpid(p, nullptr, 0);
    RealSystemWriter w;
    (void)RestoreFromJournal(state_dir, w, RestoreOptions{});
  }
};

TEST(CrashLoop, KillNineAtRandomMomentsThenRestoreOrNextStart) {
  SW_REQUIRE_PRIVILEGED();
  auto machine = test::MachineCgroups::Detect();
  ASSERT_TRUE(machine.ok()) << machine.error().message;
  const CgroupMounts& mounts = machine->mounts();
  ASSERT_TRUE(mounts.cpuset) << "no cpuset controller";
  const char* env = std::getenv("SW_CRASH_SEED");
  const unsigned seed = env ? static_cast<unsigned>(std::strtoul(env, nullptr, 10))
                            : static_cast<unsigned>(std::random_device{}());
  std::printf("crash loop seed %u (SW_CRASH_SEED=%u to replay)\n", seed, seed);
  RecordProperty("seed", std::to_string(seed));
  std::mt19937 rng(seed);

  test::TempTree tmp;
  const std::string state = tmp.Path("state");
  const std::string prefix = "/schedwarden-crash-" + std::to_string(getpid()) + "-";
  const std::string lc = prefix + "lc", be = prefix + "be";
  test::ScopedCgroups cgroups(*machine);
  Cleanup clean;  // destroyed before `cgroups`: processes die before their cgroups go
  clean.state_dir = state;
  ASSERT_NO_FATAL_FAILURE(cgroups.Create(lc));
  ASSERT_NO_FATAL_FAILURE(cgroups.Create(be));
  cgroups.WriteCpu(be, machine->weight_file(), machine->non_default_weight());
  for (const std::string* cg : {&lc, &be}) {
    pid_t p = Spawn({"spin", "2"}, nullptr);
    clean.kids.push_back(p);
    cgroups.Join(*cg, p);
  }
  clean.kids.push_back(Spawn({"spin", "1"}, nullptr));  // in the root cgroups: the shield moves it
  // A pinned one: the affinity guard puts its mask back.
  const int ncpu = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  clean.kids.push_back(Spawn({"spin", "1"}, nullptr));
  RealSystemWriter pin;
  ASSERT_TRUE(pin.SetAffinity(clean.kids.back(), CpuSet{ncpu - 1}).ok());
  std::set<pid_t> own_all(clean.kids.begin(), clean.kids.end());
  own_all.insert(getpid());
  // SW_CRASH_SHARED_MACHINE=1: other people's tasks are compared on their cpuset only.
  const bool shared = std::getenv("SW_CRASH_SHARED_MACHINE") != nullptr;
  std::this_thread::sleep_for(100ms);
  const MachineState before = Snapshot(mounts, prefix);

  // 40 iterations give >= 50 kills. Under qemu's emulation (the VM matrix) each costs ~2 s:
  // a third of them there, still every step on every kernel and layout.
  const bool in_vm = std::getenv("SCHEDWARDEN_VM") != nullptr;
  const int kIterations = in_vm ? 14 : 40;
  int kills = 0, restores = 0, starts = 0;
  std::map<std::string, int> landed;  // step -> kills that landed in it
  for (int i = 0; i < kIterations && !HasFailure(); i++) {
    const bool by_next_start = i % 2 == 1;
    // A step picked at random, its first or second time, and a random moment inside it.
    const char step = "PDSRVX"[rng() % 6];
    const int times = 1 + static_cast<int>(rng() % 2);
    const int delay_us = static_cast<int>(rng() % 4000);
    int out = -1;
    pid_t agent = Spawn({"churn", state, lc, be, std::to_string(rng()), "0"}, &out);
    bool reached = true;
    for (int n = 0; n < times && reached; n++) reached = WaitForStep(out, step);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    kill(agent, SIGKILL);
    int status = 0;
    waitpid(agent, &status, 0);
    kills++;
    landed[StepName(LastStep(out, reached ? step : '?'))]++;
    const std::string when = std::to_string(delay_us) + " us into " + StepName(step);
    ASSERT_TRUE(WIFSIGNALED(status)) << "churn exited by itself (status " << status
                                     << ") at iteration " << i << ", seed " << seed;
    if (by_next_start) {
      // The next start, killed once more at a random moment early on (often mid-reconcile).
      pid_t early = Spawn({"churn", state, lc, be, std::to_string(rng()), "0"}, &out);
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
      kill(early, SIGKILL);
      waitpid(early, nullptr, 0);
      kills++;
      landed[StepName(LastStep(out, '?'))]++;
      // The start after it reconciles and holds: the machine must be as before.
      int fd = -1;
      pid_t held = Spawn({"churn", state, lc, be, "0", "1"}, &fd);
      clean.kids.push_back(held);
      bool ok = WaitFor(fd, "RECONCILED");
      close(fd);
      std::string diff = ok ? Diff(before, Snapshot(mounts, prefix), own_all, shared) : "";
      kill(held, SIGKILL);
      waitpid(held, nullptr, 0);
      clean.kids.pop_back();
      starts++;
      ASSERT_TRUE(ok) << "start-up reconcile failed at iteration " << i << ", seed " << seed;
      EXPECT_EQ(diff, "") << "after the start-up reconcile at iteration " << i << " (kill " << when
                          << "), seed " << seed;
    } else {
      RealSystemWriter w;
      auto r = RestoreFromJournal(state, w, RestoreOptions{});
      ASSERT_TRUE(r.ok()) << r.error().message;
      restores++;
      EXPECT_TRUE(r->Complete()) << r->Summary() << "iteration " << i << ", seed " << seed;
      EXPECT_EQ(Diff(before, Snapshot(mounts, prefix), own_all, shared), "")
          << "after restore at iteration " << i << " (kill " << when << "), seed " << seed << "\n"
          << r->Summary();
    }
  }
  std::printf("%d kills, %d restores, %d start-up reconciles checked; kills landed in:", kills,
              restores, starts);
  for (const auto& [step, n] : landed) std::printf(" %s %d,", step.c_str(), n);
  std::printf("\n");
  EXPECT_GE(kills, in_vm ? 17 : 50);
}

// Tasks exiting and cgroups vanishing mid-action, on the real kernel: a hook in the fault
// injector kills the workload's process (grant) or kills the demoted one and removes its cgroup
// (demote) right before the k-th write, for seeded k across the action's writes. The action
// reports it or copes (ESRCH/ENOENT from the kernel are "gone"), and the shutdown restore
// completes with everything else as in the snapshot.
TEST(CrashLoop, TasksExitAndCgroupsVanishMidAction) {
  SW_REQUIRE_PRIVILEGED();
  auto machine = test::MachineCgroups::Detect();
  ASSERT_TRUE(machine.ok()) << machine.error().message;
  const CgroupMounts& mounts = machine->mounts();
  ASSERT_TRUE(mounts.cpuset) << "no cpuset controller";
  std::mt19937 rng(7);
  test::TempTree tmp;
  const std::string prefix = "/schedwarden-vanish-" + std::to_string(getpid()) + "-";
  const std::string lc = prefix + "lc", be = prefix + "be";
  test::ScopedCgroups cgroups(*machine);
  Cleanup clean;
  clean.state_dir = tmp.Path("state");
  ASSERT_NO_FATAL_FAILURE(cgroups.Create(lc));
  ASSERT_NO_FATAL_FAILURE(cgroups.Create(be));
  const bool shared = std::getenv("SW_CRASH_SHARED_MACHINE") != nullptr;
  for (int round = 0; round < 12 && !HasFailure(); round++) {
    const bool grant = round % 2 == 0;
    // The victim: in lc (grant) or in a sub-cgroup of be that is removed (demote).
    const std::string sub = machine->CpuDir(be) + "/gone";
    if (!grant) ASSERT_EQ(mkdir(sub.c_str(), 0755), 0) << sub;
    pid_t victim = Spawn({"spin", "2"}, nullptr);
    clean.kids.push_back(victim);
    if (grant) {
      cgroups.Join(lc, victim);
    } else {
      RealSystemWriter w;
      ASSERT_TRUE(w.MoveTask(sub + "/cgroup.procs", victim).ok());
    }
    std::this_thread::sleep_for(50ms);
    std::set<pid_t> own(clean.kids.begin(), clean.kids.end());
    own.insert(getpid());
    const MachineState before = Snapshot(mounts, prefix);
    RealSystemWriter real;
    FaultInjectingWriter fw(real);
    const int k = 1 + static_cast<int>(rng() % (grant ? 40 : 4));
    bool fired = false;
    fw.before = [&](int n, const std::string&) {
      if (n != k || fired) return;
      fired = true;
      kill(victim, SIGKILL);
      waitpid(victim, nullptr, 0);
      if (!grant)
        for (int i = 0; i < 100 && rmdir(sub.c_str()) != 0; i++) std::this_thread::sleep_for(5ms);
    };
    EnforcerConfig cfg;
    cfg.state_dir = clean.state_dir;
    cfg.rails.agent_pid = getpid();
    auto e = Enforcer::Create(cfg, fw);
    ASSERT_TRUE(e.ok()) << e.error().message;
    std::string what;
    if (grant) {
      auto p = (*e)->Promote("web", lc, 1);
      what = p ? (p->granted() ? "granted" : p->allocation.reason) : p.error().message;
    } else {
      auto d = (*e)->Demote("batch", be);
      what = d ? "demoted " + std::to_string(d->threads_demoted) : d.error().message;
    }
    RestoreReport r = (*e)->Shutdown();
    e->reset();
    if (!fired) {  // the action had fewer writes than k: the victim still runs, end it here
      kill(victim, SIGKILL);
      waitpid(victim, nullptr, 0);
    }
    clean.kids.pop_back();
    rmdir(sub.c_str());
    const std::string trace = std::string(grant ? "grant" : "demote") +
                              ", victim gone before write " + std::to_string(k) +
                              (fired ? "" : " (not reached)") + ": " + what;
    std::printf("%s\n", trace.c_str());
    SCOPED_TRACE(trace);
    EXPECT_TRUE(r.Complete()) << r.Summary();
    EXPECT_EQ(Diff(before, Snapshot(mounts, prefix), own, shared), "") << r.Summary();
  }
}

}  // namespace
}  // namespace sw

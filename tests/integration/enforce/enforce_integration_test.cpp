// Privileged: the actuators and restore on the real cgroup hierarchies of this machine (v1: the
// shield; v2: a cpuset partition). Busy processes run in test cgroups of the cpu controller; one
// is promoted to an exclusive core (on v1 the shield moves every other movable task of the
// machine out of it, on v2 the kernel takes the CPUs from every other cgroup), another is demoted
// to SCHED_IDLE; every claim is checked against the kernel (/proc/<tid>/status Cpus_allowed_list,
// /proc/<tid>/stat "processor", sched_getattr, /proc/<tid>/sched, cpu.idle) and after restore
// every task's cpuset, affinity, policy and nice must equal the snapshot taken before, and the
// demoted cgroup's CPU weight (cpu.shares / cpu.weight, which cpu.idle resets) its old value.
// Teardown (RAII) restores the journal and kills the helpers even when an assertion fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>

#include "cgroup/layout.h"
#include "cgroup/tasks.h"
#include "common/cpulist.h"
#include "common/fs.h"
#include "enforce/best_effort_actuator.h"
#include "enforce/enforcer.h"
#include "enforce/exclusive_actuator.h"
#include "enforce/restore.h"
#include "support/cgroup_layout.h"
#include "support/privileged.h"
#include "support/scoped_cgroups.h"
#include "support/temp_tree.h"
#include "topology/core_allocator.h"

namespace sw {
namespace {

using test::MachineCgroups;
using test::ScopedCgroups;

using namespace std::chrono_literals;

// The machine's layout, detected by the product (the tests check the product against the
// kernel, not the detection).
const CgroupMounts& Layout() {
  static const CgroupMounts layout = [] {
    auto m = DetectCgroupMounts();
    if (!m) throw std::runtime_error(m.error().message);
    if (auto cs = CpusetMount(*m); !cs) throw std::runtime_error(cs.error().message);
    return *m;
  }();
  return layout;
}
bool V1() { return Layout().cpuset->version == CgroupVersion::kV1; }

// One physical core's worth of CPUs: exclusive CPUs are whole cores.
int ThreadsPerCore() {
  auto s = ReadLine("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list");
  auto c = s ? ParseCpuList(Trim(*s)) : Result<CpuSet>(Error{ENOENT, ""});
  return c && !c->empty() ? static_cast<int>(c->size()) : 1;
}

// The machine's last core (the floor keeps the first one shared): CPU 1 on a 2-CPU machine,
// 2-3 on a 2x2 SMT VM.
CpuSet LastCore() {
  const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  auto sib = ReadLine("/sys/devices/system/cpu/cpu" + std::to_string(ncpu - 1) +
                      "/topology/thread_siblings_list");
  auto core = sib ? ParseCpuList(Trim(*sib)) : Result<CpuSet>(Error{ENOENT, ""});
  return core ? *core : CpuSet{static_cast<int>(ncpu - 1)};
}

// The task's cpuset cgroup: the v1 cpuset hierarchy's, or its v2 cgroup.
Result<std::string> TaskCpuset(pid_t tid) {
  if (V1()) return ReadTaskCgroup("/proc", tid, "cpuset");
  return ReadTaskCgroup("/proc", tid, "");
}

struct TaskState {
  uint64_t start = 0;
  pid_t tgid = 0;
  bool kthread = false;
  char state = '?';  // R, S, D, Z (zombie: can neither run nor be moved), ...
  std::string cpuset;
  std::string allowed;  // Cpus_allowed_list
  SchedAttr attr;
};

std::string StatusField(const std::string& status, const std::string& key) {
  for (const std::string& line : Split(status, '\n'))
    if (line.rfind(key + ":", 0) == 0) return Trim(line.substr(key.size() + 1));
  return "";
}

// Every thread of the machine, from the kernel's point of view.
std::map<pid_t, TaskState> Snapshot() {
  std::map<pid_t, TaskState> out;
  RealSystemWriter w;
  auto pids = ListDir("/proc");
  for (const std::string& p : *pids) {
    if (p.find_first_not_of("0123456789") != std::string::npos) continue;
    auto tids = ListDir("/proc/" + p + "/task");
    if (!tids) continue;
    for (const std::string& t : *tids) {
      pid_t tid = std::stoi(t);
      auto st = ReadTaskStat("/proc", tid);
      auto status = ReadFile("/proc/" + t + "/status");
      auto cs = TaskCpuset(tid);
      if (!st || !status || !cs) continue;  // exited meanwhile
      TaskState s;
      s.start = st->start_time;
      s.kthread = st->IsKernelThread() || tid == 2 || st->ppid == 2;
      s.tgid = std::stoi(p);
      s.state = StatusField(*status, "State").c_str()[0];
      s.cpuset = *cs;
      s.allowed = StatusField(*status, "Cpus_allowed_list");
      if (!s.kthread) {
        auto a = w.GetSchedAttr(tid);
        if (!a) continue;
        s.attr = *a;
      }
      out[tid] = s;
    }
  }
  return out;
}

// Differences for tasks that existed before and still exist (same start time).
std::vector<std::string> Diff(const std::map<pid_t, TaskState>& before,
                              const std::map<pid_t, TaskState>& after) {
  std::vector<std::string> d;
  for (const auto& [tid, b] : before) {
    auto it = after.find(tid);
    if (it == after.end() || it->second.start != b.start) continue;
    const TaskState& a = it->second;
    std::string who = "task " + std::to_string(tid) + " (" +
                      Trim(ReadLine("/proc/" + std::to_string(tid) + "/comm").value_or("?")) + ")";
    if (a.cpuset != b.cpuset) d.push_back(who + " cpuset " + b.cpuset + " -> " + a.cpuset);
    // A kernel thread's CPUs are the kernel's to decide (a 6.1 kernel rebinds unbound workqueue
    // workers when a partition changes; userspace may not set them): user tasks only.
    if (a.allowed != b.allowed && !b.kthread)
      d.push_back(who + " Cpus_allowed " + b.allowed + " -> " + a.allowed);
    if (!(a.attr == b.attr))
      d.push_back(who + " policy " + SchedPolicyName(b.attr.policy) + "/" +
                  std::to_string(b.attr.nice) + " -> " + SchedPolicyName(a.attr.policy) + "/" +
                  std::to_string(a.attr.nice));
  }
  return d;
}

uint64_t NowTicks() {
  auto up = ReadLine("/proc/uptime");
  return static_cast<uint64_t>(std::stod(*up) * static_cast<double>(sysconf(_SC_CLK_TCK)));
}

// Test cgroups in the cpu controller and busy helper processes; everything undone on
// destruction (processes killed, cgroups removed).
class Workloads {
 public:
  Workloads()
      : prefix_("/schedwarden-test-" + std::to_string(getpid()) + "-"),
        machine_(Machine()),
        cgroups_(machine_) {}
  ~Workloads() {
    for (pid_t p : kids_) kill(p, SIGKILL);
    for (pid_t p : kids_) waitpid(p, nullptr, 0);
    for (const std::string& d : dirs_)
      for (int i = 0; i < 50 && rmdir(d.c_str()) != 0 && errno == EBUSY; i++)
        std::this_thread::sleep_for(20ms);
  }
  // A test cgroup ("/schedwarden-test-<pid>-<name>") in every hierarchy; returns its path.
  std::string MakeCgroup(const std::string& name) {
    std::string cg = prefix_ + name;
    cgroups_.Create(cg);
    return cg;
  }
  std::string CpuDir(const std::string& cg) const { return machine_.CpuDir(cg); }
  // Where the exclusive actuator takes the workload: v1 its cpu cgroup (the shield moves its
  // threads), v2 its cgroup in the cpuset hierarchy.
  std::string TargetDir(const std::string& cg) const {
    return V1() ? machine_.CpuDir(cg) : machine_.CpusetDir(cg);
  }
  const MachineCgroups& machine() const { return machine_; }
  // A v1 cpuset of our own (a "foreign" one for the shield), with every CPU.
  std::string MakeCpuset(const std::string& name) {
    std::string d = JoinPath(Layout().cpuset->path, prefix_.substr(1) + name);
    if (mkdir(d.c_str(), 0755) != 0) ADD_FAILURE() << "mkdir " << d << ": " << strerror(errno);
    dirs_.push_back(d);  // removed last, after the processes in it are gone
    RealSystemWriter w;
    EXPECT_TRUE(
        w.WriteFile(JoinPath(d, "cpuset.cpus"), *ReadLine(Layout().cpuset->path + "/cpuset.cpus"))
            .ok());
    EXPECT_TRUE(
        w.WriteFile(JoinPath(d, "cpuset.mems"), *ReadLine(Layout().cpuset->path + "/cpuset.mems"))
            .ok());
    return d;
  }
  // Starts `threads` spinning threads in test cgroup `cg` ("" = stay in the root), optionally
  // pinned, optionally in v1 cpuset directory `cpuset_dir`.
  pid_t Spawn(const std::string& cg, int threads, int pin_cpu = -1,
              const std::string& cpuset_dir = "") {
    pid_t pid = SpawnIn("", threads, pin_cpu, cpuset_dir);
    if (!cg.empty()) cgroups_.Join(cg, pid);
    return pid;
  }
  pid_t SpawnIn(const std::string& dir, int threads, int pin_cpu, const std::string& cpuset_dir) {
    std::string procs = dir.empty() ? "" : JoinPath(dir, "cgroup.procs");
    std::string cs_procs = cpuset_dir.empty() ? "" : JoinPath(cpuset_dir, "cgroup.procs");
    std::string n = std::to_string(threads);
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      if (pin_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(pin_cpu, &set);
        sched_setaffinity(0, sizeof(set), &set);
      }
      for (const std::string* f : {&procs, &cs_procs}) {
        if (f->empty()) continue;
        int fd = open(f->c_str(), O_WRONLY);
        if (fd < 0 || write(fd, "0", 1) != 1) _exit(3);
        close(fd);
      }
      execl(SW_ENFORCE_TEST_HELPER, SW_ENFORCE_TEST_HELPER, "spin", n.c_str(), nullptr);
      _exit(4);
    }
    kids_.push_back(pid);
    for (int i = 0; i < 250; i++) {  // until it runs the helper and every thread exists
      auto t = ListDir("/proc/" + std::to_string(pid) + "/task");
      auto comm = ReadLine("/proc/" + std::to_string(pid) + "/comm");
      if (t && static_cast<int>(t->size()) == threads && comm && *comm == "sw_enforce_test") break;
      std::this_thread::sleep_for(20ms);
    }
    return pid;
  }
  // Starts the crash helper with its stdout on a pipe; returns the read end.
  pid_t SpawnCrash(const std::vector<std::string>& args, int* out_fd) {
    int p[2];
    if (pipe(p) != 0) return -1;
    std::vector<char*> argv{const_cast<char*>(SW_ENFORCE_TEST_HELPER)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(p[1], 1);
      close(p[0]);
      execv(SW_ENFORCE_TEST_HELPER, argv.data());
      _exit(4);
    }
    close(p[1]);
    kids_.push_back(pid);
    *out_fd = p[0];
    return pid;
  }

 private:
  static MachineCgroups Machine() {
    auto m = MachineCgroups::Detect();
    if (!m.ok()) throw std::runtime_error(m.error().message);
    return *m;
  }
  std::string prefix_;
  MachineCgroups machine_;
  std::vector<std::string> dirs_;  // v1 cpusets, removed after the processes
  ScopedCgroups cgroups_;          // removed after the processes
  std::vector<pid_t> kids_;
};

std::vector<pid_t> Threads(pid_t pid) {
  std::vector<pid_t> out;
  auto t = ListDir("/proc/" + std::to_string(pid) + "/task");
  if (t)
    for (const auto& s : *t) out.push_back(std::stoi(s));
  return out;
}

std::string AllowedOf(pid_t tid) {
  auto s = ReadFile("/proc/" + std::to_string(tid) + "/status");
  return s ? StatusField(*s, "Cpus_allowed_list") : "";
}

// "policy : 5" from /proc/<tid>/sched, a second kernel view besides sched_getattr.
int ProcSchedPolicy(pid_t tid) {
  auto s = ReadFile("/proc/" + std::to_string(tid) + "/sched");
  if (!s) return -1;
  for (const std::string& line : Split(*s, '\n'))
    if (line.rfind("policy", 0) == 0) return std::stoi(Trim(line.substr(line.find(':') + 1)));
  return -1;
}

// The CPU each thread last ran on (field 39 of stat), sampled while it spins.
std::set<int> CpusSeenRunning(pid_t pid, int samples) {
  std::set<int> seen;
  for (int i = 0; i < samples; i++) {
    for (pid_t tid : Threads(pid)) {
      auto text = ReadFile("/proc/" + std::to_string(tid) + "/stat");
      if (!text) continue;
      std::vector<std::string> f;
      for (const auto& tok : Split(Trim(text->substr(text->rfind(')') + 1)), ' '))
        if (!tok.empty()) f.push_back(tok);
      if (f.size() > 36) seen.insert(std::stoi(f[36]));
    }
    std::this_thread::sleep_for(10ms);
  }
  return seen;
}

// Restores whatever is still outstanding when a test leaves (even through a failed ASSERT).
class RestoreGuard {
 public:
  RestoreGuard(Journal* j, std::string state_dir) : j_(j), state_dir_(std::move(state_dir)) {}
  ~RestoreGuard() {
    RealSystemWriter w;
    RestoreOptions o;
    if (j_) {
      RestoreReport r = RestoreJournal(*j_, w, o);
      if (!r.Complete()) ADD_FAILURE() << "teardown restore incomplete:\n" << r.Summary();
    } else if (!state_dir_.empty()) {
      auto r = RestoreFromJournal(state_dir_, w, o);
      if (!r || !r->Complete()) ADD_FAILURE() << "teardown restore incomplete";
    }
  }

 private:
  Journal* j_;
  std::string state_dir_;
};

void ExpectShieldGone() {
  auto names = ListDir(Layout().cpuset->path);
  ASSERT_TRUE(names.ok());
  for (const auto& n : *names) EXPECT_EQ(n.rfind("schedwarden.", 0), std::string::npos) << n;
}

// Checks on the promoted state: the exclusive CPUs are nobody else's, the workload runs there.
void ExpectExclusive(pid_t lc, const CpuSet& cpus, uint64_t since_ticks, pid_t agent = getpid()) {
  auto snap = Snapshot();
  std::set<pid_t> lc_threads;
  for (pid_t t : Threads(lc)) lc_threads.insert(t);
  int checked = 0;
  for (const auto& [tid, s] : snap) {
    if (s.kthread || s.tgid == 1 || s.tgid == agent || lc_threads.count(tid)) continue;
    if (s.start >= since_ticks) continue;            // born after the last sweep: next sweep's job
    if (s.state == 'Z' || s.state == 'X') continue;  // exited, not reaped yet: cannot run
    auto allowed = ParseCpuList(s.allowed);
    ASSERT_TRUE(allowed.ok());
    for (int cpu : cpus)
      EXPECT_FALSE(allowed->count(cpu))
          << "task " << tid << " ("
          << ReadLine("/proc/" + std::to_string(tid) + "/comm").value_or("?") << ", state "
          << s.state << ", still exists: " << SameTask("/proc", tid, s.start)
          << ") may still run on exclusive CPU " << cpu << " (Cpus_allowed_list " << s.allowed
          << ", cpuset " << s.cpuset << ")";
    checked++;
  }
  EXPECT_GE(checked, 2);  // a VM's initramfs has few user tasks besides the test's own
  for (pid_t t : lc_threads) EXPECT_EQ(AllowedOf(t), FormatCpuList(cpus)) << "lc thread " << t;
  std::set<int> seen = CpusSeenRunning(lc, 20);
  for (int c : seen) EXPECT_TRUE(cpus.count(c)) << "lc ran on CPU " << c;
}

TEST(EnforceIntegration, PromoteDemoteRestoreOnThisMachinesCgroups) {
  SW_REQUIRE_PRIVILEGED();
  ExpectShieldGone();
  Workloads wl;
  const std::string lc_cg = wl.MakeCgroup("lc");
  const std::string be_cg = wl.MakeCgroup("be");
  const std::string be_dir = wl.CpuDir(be_cg);
  // v1: the workload has a cpuset cgroup at its own path (as runtimes make them), which gets the
  // exclusive CPUs with its threads left in it; a neighbour runs in another cpuset ("home"), a
  // leaf that must be narrowed and given back, its task never moved.
  const std::string own = V1() ? wl.MakeCpuset("lc") : "";
  const std::string own_rel = V1() ? own.substr(Layout().cpuset->path.size()) : "";
  const std::string home = V1() ? wl.MakeCpuset("home") : "";
  const std::string home_rel = V1() ? home.substr(Layout().cpuset->path.size()) : "";
  const pid_t lc = wl.Spawn(lc_cg, 2, -1, own);
  const pid_t be = wl.Spawn(be_cg, 3);
  const pid_t pinned = wl.Spawn("", 1, 1);  // a user task pinned to CPU 1 by its owner
  const pid_t neighbour = V1() ? wl.Spawn("", 1, -1, home) : -1;
  if (V1()) {
    ASSERT_EQ(own_rel, lc_cg);
    ASSERT_EQ(*TaskCpuset(lc), own_rel);
    ASSERT_EQ(*TaskCpuset(neighbour), home_rel);
  }
  ASSERT_EQ(Threads(lc).size(), 2u);
  ASSERT_EQ(Threads(be).size(), 3u);
  ASSERT_EQ(AllowedOf(pinned), "1");
  ASSERT_EQ(Trim(*ReadLine(be_dir + "/cpu.idle")), "0");
  // Not the default (cpu.idle=0 alone resets the weight to it), as kubelet sets for pods.
  const std::string be_weight = wl.machine().non_default_weight();
  ASSERT_TRUE(wl.machine().WriteWeight(be_cg, be_weight).ok());
  const auto before = Snapshot();

  // The CPUs come from the allocator on the live topology (floor: one core stays shared).
  auto topo = LoadLiveTopology();
  ASSERT_TRUE(topo.ok());
  auto alloc = CoreAllocator::Create(*topo, {});
  ASSERT_TRUE(alloc.ok());
  Allocation grant = alloc->Allocate({"lc", ThreadsPerCore(), {}});
  ASSERT_TRUE(grant.granted) << grant.reason;
  ASSERT_EQ(static_cast<int>(grant.cpus.size()), ThreadsPerCore());

  test::TempTree state;
  auto journal = Journal::Open(state.Path("state"));
  ASSERT_TRUE(journal.ok()) << journal.error().message;
  RestoreGuard guard(&*journal, "");
  RealSystemWriter writer;
  SafetyRails rails;
  ExclusiveActuatorConfig ec;
  ec.version = Layout().cpuset->version;
  ec.cpuset_root = Layout().cpuset->path;
  ec.workload_root = Layout().cpu.path;
  ExclusiveCoreActuator ex(ec, writer, *journal, rails);
  ASSERT_TRUE(ex.Init().ok());
  BestEffortActuatorConfig bc;
  bc.cgroup_root = Layout().cpu.path;
  BestEffortActuator bea(bc, writer, *journal, rails);

  auto t0 = std::chrono::steady_clock::now();
  auto promoted = ex.Promote({"lc", wl.TargetDir(lc_cg)}, grant.cpus);
  ASSERT_TRUE(promoted.ok()) << promoted.error().message;
  auto promote_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  if (V1()) {
    EXPECT_TRUE(promoted->own_cpuset);
    EXPECT_EQ(promoted->workload.moved, 0);  // its threads stay in its own cpuset
    EXPECT_GT(promoted->shield.moved, 0);    // the ground truth is ExpectExclusive below
  }
  EXPECT_TRUE(promoted->others_excluded) << ::testing::PrintToString(promoted->warnings);
  uint64_t since = NowTicks();
  ASSERT_TRUE(ex.Sweep().ok());
  ExpectExclusive(lc, grant.cpus, since);
  if (!grant.cpus.count(1))
    EXPECT_EQ(AllowedOf(pinned), "1");
  else  // the kernel had to move it
    EXPECT_EQ(AllowedOf(pinned), FormatCpuList(ex.SharedCpus()));
  if (V1()) {
    EXPECT_EQ(Trim(*ReadLine(home + "/cpuset.cpus")), FormatCpuList(ex.SharedCpus()));
    EXPECT_EQ(Trim(*ReadLine(own + "/cpuset.cpus")), FormatCpuList(grant.cpus));
    EXPECT_EQ(*TaskCpuset(lc), own_rel);
    EXPECT_EQ(*TaskCpuset(neighbour), home_rel);
  }

  auto demoted = bea.Demote({"be", be_dir});
  ASSERT_TRUE(demoted.ok()) << demoted.error().message;
  EXPECT_EQ(demoted->threads_demoted, 3);
  for (pid_t t : Threads(be)) {
    auto a = writer.GetSchedAttr(t);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->policy, SCHED_IDLE) << "thread " << t;
    EXPECT_EQ(ProcSchedPolicy(t), SCHED_IDLE) << "thread " << t;
  }
  EXPECT_EQ(Trim(*ReadLine(be_dir + "/cpu.idle")), "1");
  // The kernel facts the weight journaling relies on: idle weight, and writes refused.
  EXPECT_TRUE(wl.machine().IsIdleWeight(wl.machine().ReadWeight(be_cg)))
      << wl.machine().ReadWeight(be_cg);
  auto refused = wl.machine().WriteWeight(be_cg, be_weight);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, EINVAL) << refused.error().message;

  t0 = std::chrono::steady_clock::now();
  RestoreReport rep = RestoreJournal(*journal, writer, {});
  auto restore_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_TRUE(rep.Complete()) << rep.Summary();
  std::printf("promote %lld ms (%d tasks shielded), restore %lld ms (%d changes)\n",
              static_cast<long long>(promote_ms), promoted->shield.moved,
              static_cast<long long>(restore_ms), rep.outstanding_before);
  ExpectShieldGone();
  EXPECT_EQ(Trim(*ReadLine(be_dir + "/cpu.idle")), "0");
  EXPECT_EQ(wl.machine().ReadWeight(be_cg), be_weight) << wl.machine().weight_file();
  const auto diff = Diff(before, Snapshot());
  EXPECT_TRUE(diff.empty()) << ::testing::PrintToString(diff);
  EXPECT_EQ(AllowedOf(pinned), "1");
  if (V1()) {
    EXPECT_EQ(*TaskCpuset(lc), own_rel);
    EXPECT_EQ(*TaskCpuset(neighbour), home_rel);
    for (const std::string& d : {own, home})
      EXPECT_EQ(Trim(*ReadLine(d + "/cpuset.cpus")),
                *ReadLine(Layout().cpuset->path + "/cpuset.cpus"))
          << d;
  }
  EXPECT_TRUE(journal->Outstanding().empty());
  EXPECT_EQ(ReadFile(journal->path()).value_or("x"), "");
}

TEST(EnforceIntegration, KillNineBetweenJournaledAndAppliedThenRestore) {
  SW_REQUIRE_PRIVILEGED();
  ExpectShieldGone();
  Workloads wl;
  const std::string lc_cg = wl.MakeCgroup("lc");
  const std::string be_cg = wl.MakeCgroup("be");
  const std::string be_dir = wl.CpuDir(be_cg);
  const pid_t lc = wl.Spawn(lc_cg, 1);
  const pid_t be = wl.Spawn(be_cg, 3);
  ASSERT_EQ(Threads(be).size(), 3u);
  const std::string be_weight = wl.machine().non_default_weight();
  ASSERT_TRUE(wl.machine().WriteWeight(be_cg, be_weight).ok());
  const CpuSet core = LastCore();
  const auto before = Snapshot();
  test::TempTree state;
  const std::string state_dir = state.Path("state");
  {
    RestoreGuard guard(nullptr, state_dir);
    int out = -1;
    // Freeze before the 2nd sched_setattr: thread 1 is SCHED_IDLE, threads 2-3 are journaled only.
    pid_t helper = wl.SpawnCrash(
        {"crash", state_dir, wl.TargetDir(lc_cg), be_dir, FormatCpuList(core), "2"}, &out);
    ASSERT_GT(helper, 0);
    std::string got;
    char buf[64];
    for (ssize_t n; got.find('\n') == std::string::npos && (n = read(out, buf, sizeof(buf))) > 0;)
      got.append(buf, n);
    close(out);
    ASSERT_EQ(got, "PAUSED\n");
    // The machine is shielded and half-demoted right now (the helper is the agent here).
    ExpectExclusive(lc, core, NowTicks(), helper);
    int idle = 0;
    for (pid_t t : Threads(be)) idle += ProcSchedPolicy(t) == SCHED_IDLE;
    EXPECT_EQ(idle, 1);
    EXPECT_EQ(Trim(*ReadLine(be_dir + "/cpu.idle")), "1");
    EXPECT_TRUE(wl.machine().IsIdleWeight(wl.machine().ReadWeight(be_cg)));
    ASSERT_EQ(kill(helper, SIGKILL), 0);
    ASSERT_EQ(waitpid(helper, nullptr, 0), helper);

    auto j = ReadJournalFile(JoinPath(state_dir, "journal"));
    ASSERT_TRUE(j.ok());
    int journaled_only = 0;
    for (const auto& e : j->entries) journaled_only += !e.applied && !e.undone;
    EXPECT_EQ(journaled_only, 3) << "the kill must land between journaled and applied";

    RealSystemWriter writer;
    auto rep = RestoreFromJournal(state_dir, writer, {});
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_TRUE(rep->Complete()) << rep->Summary();
    EXPECT_EQ(rep->ExitCode(), 0);
    // Idempotent: a second restore finds nothing to do.
    auto again = RestoreFromJournal(state_dir, writer, {});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->outstanding_before, 0);
    EXPECT_EQ(again->ExitCode(), 0);
  }
  ExpectShieldGone();
  EXPECT_EQ(Trim(*ReadLine(be_dir + "/cpu.idle")), "0");
  EXPECT_EQ(wl.machine().ReadWeight(be_cg), be_weight) << wl.machine().weight_file();
  const auto diff = Diff(before, Snapshot());
  EXPECT_TRUE(diff.empty()) << ::testing::PrintToString(diff);
}

// kill -9 after the weight and cpu.idle were journaled, before cpu.idle was written.
TEST(EnforceIntegration, KillNineBeforeCpuIdleIsWrittenThenRestore) {
  SW_REQUIRE_PRIVILEGED();
  ExpectShieldGone();
  Workloads wl;
  const std::string lc_cg = wl.MakeCgroup("lc");
  const std::string be_cg = wl.MakeCgroup("be");
  const std::string be_dir = wl.CpuDir(be_cg);
  wl.Spawn(lc_cg, 1);
  const pid_t be = wl.Spawn(be_cg, 2);
  const std::string be_weight = wl.machine().non_default_weight();
  ASSERT_TRUE(wl.machine().WriteWeight(be_cg, be_weight).ok());
  test::TempTree state;
  const std::string state_dir = state.Path("state");
  {
    RestoreGuard guard(nullptr, state_dir);
    int out = -1;
    pid_t helper = wl.SpawnCrash(
        {"crash", state_dir, wl.TargetDir(lc_cg), be_dir, FormatCpuList(LastCore()), "0"}, &out);
    ASSERT_GT(helper, 0);
    std::string got;
    char buf[64];
    for (ssize_t n; got.find('\n') == std::string::npos && (n = read(out, buf, sizeof(buf))) > 0;)
      got.append(buf, n);
    close(out);
    ASSERT_EQ(got, "PAUSED\n");
    ASSERT_EQ(kill(helper, SIGKILL), 0);
    ASSERT_EQ(waitpid(helper, nullptr, 0), helper);
    EXPECT_EQ(Trim(*ReadLine(be_dir + "/cpu.idle")), "0");
    EXPECT_EQ(wl.machine().ReadWeight(be_cg), be_weight);
    auto j = ReadJournalFile(JoinPath(state_dir, "journal"));
    ASSERT_TRUE(j.ok());
    std::vector<std::string> journaled_only;
    for (const auto& e : j->entries)
      if (!e.applied && !e.undone) journaled_only.push_back(e.path);
    EXPECT_EQ(journaled_only,
              (std::vector<std::string>{JoinPath(be_dir, wl.machine().weight_file()),
                                        JoinPath(be_dir, "cpu.idle")}));
    RealSystemWriter writer;
    auto rep = RestoreFromJournal(state_dir, writer, {});
    ASSERT_TRUE(rep.ok()) << rep.error().message;
    EXPECT_TRUE(rep->Complete()) << rep->Summary();
  }
  ExpectShieldGone();
  EXPECT_EQ(Trim(*ReadLine(be_dir + "/cpu.idle")), "0");
  EXPECT_EQ(wl.machine().ReadWeight(be_cg), be_weight);
  for (pid_t t : Threads(be)) EXPECT_EQ(ProcSchedPolicy(t), SCHED_OTHER) << t;
}

TEST(EnforceIntegration, EnforcerFacadeOnThisMachine) {
  SW_REQUIRE_PRIVILEGED();
  ExpectShieldGone();
  Workloads wl;
  const std::string lc_rel = wl.MakeCgroup("lc");
  const std::string be_rel = wl.MakeCgroup("be");
  const pid_t lc = wl.Spawn(lc_rel, 1);
  const pid_t be = wl.Spawn(be_rel, 2);
  const std::string be_dir = wl.CpuDir(be_rel);
  const std::string be_weight = wl.machine().non_default_weight();
  ASSERT_TRUE(wl.machine().WriteWeight(be_rel, be_weight).ok());
  const auto before = Snapshot();
  test::TempTree state;
  RealSystemWriter writer;
  EnforcerConfig cfg;
  cfg.state_dir = state.Path("state");
  auto e = Enforcer::Create(cfg, writer);
  ASSERT_TRUE(e.ok()) << e.error().message;
  struct ShutdownGuard {
    Enforcer* e;
    ~ShutdownGuard() {
      RestoreReport r = e->Shutdown();
      if (!r.Complete()) ADD_FAILURE() << r.Summary();
    }
  } guard{e->get()};
  auto p = (*e)->Promote("lc", lc_rel, ThreadsPerCore());
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_TRUE(p->granted()) << p->allocation.reason;
  const CpuSet cpus = p->allocation.cpus;
  // A second grant is refused exactly when the floor (one core stays shared) and the exclusive
  // fraction (half the CPUs) leave no whole core: on a 2-core machine.
  auto p2 = (*e)->Promote("be-as-lc", be_rel, ThreadsPerCore());
  ASSERT_TRUE(p2.ok());
  const int cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)) / ThreadsPerCore();
  EXPECT_EQ(p2->granted(), cores >= 4) << p2->allocation.reason;
  if (p2->granted()) {
    ASSERT_TRUE((*e)->Release("be-as-lc").ok());
  }
  ASSERT_TRUE((*e)->Demote("be", be_rel).ok());
  uint64_t since = NowTicks();
  ASSERT_TRUE((*e)->Sweep().ok());
  ExpectExclusive(lc, cpus, since);
  for (pid_t t : Threads(be)) EXPECT_EQ(ProcSchedPolicy(t), SCHED_IDLE) << t;
  EXPECT_TRUE(wl.machine().IsIdleWeight(wl.machine().ReadWeight(be_rel)));
  RestoreReport r = (*e)->Shutdown();  // what SIGTERM does
  EXPECT_TRUE(r.Complete()) << r.Summary();
  EXPECT_EQ(wl.machine().ReadWeight(be_rel), be_weight) << wl.machine().weight_file();
  ExpectShieldGone();
  const auto diff = Diff(before, Snapshot());
  EXPECT_TRUE(diff.empty()) << ::testing::PrintToString(diff);
}

}  // namespace
}  // namespace sw

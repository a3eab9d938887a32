// Privileged: the enforcer on a real cgroup tree laid out like kubelet's (cgroupfs driver, under
// a private prefix), with kubelet's CPU manager simulated by a cpu_manager_state file and by
// writing the Guaranteed container's cpuset as kubelet does. Ground truth: cgroupfs files and
// /proc/<pid>/status Cpus_allowed_list.
//  1. CPUs the state assigns are never granted (refused with kubelet named, or other cores), and
//     the Guaranteed container keeps them through Sweeps;
//  2. the state says "none": the core is granted;
//  3. kubelet assigns that core to the Guaranteed container while the agent holds it: the next
//     interval names the holder, its release leaves kubelet's cpuset as kubelet wrote it, and
//     after Shutdown every other cgroup is as before.
// Processes and cgroups are removed by destructors, also when an assertion fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>

#include "common/cpulist.h"
#include "common/fs.h"
#include "enforce/enforcer.h"
#include "enforce/restore.h"
#include "k8s/cpu_manager_state.h"
#include "support/cgroup_layout.h"
#include "support/privileged.h"
#include "support/scoped_cgroups.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using namespace std::chrono_literals;
using test::MachineCgroups;

const char* kWho = "that kubelet's CPU manager assigned to Guaranteed containers";

std::string Allowed(pid_t pid) {
  for (const std::string& line :
       Split(ReadFile("/proc/" + std::to_string(pid) + "/status").value_or(""), '\n'))
    if (line.rfind("Cpus_allowed_list:", 0) == 0) return Trim(line.substr(18));
  return "?";
}

bool WriteString(const std::string& path, const std::string& v) {
  int fd = open(path.c_str(), O_WRONLY);
  if (fd < 0) return false;
  bool ok = write(fd, v.data(), v.size()) == static_cast<ssize_t>(v.size());
  close(fd);
  return ok;
}

// The node's cgroups in every hierarchy the agent reads, v1 cpusets copied from the parent as
// runc does, and container processes.
class Node {
 public:
  Node() : m_(Detect()), cgroups_(m_), root_(m_.cpuset_root()) {}
  ~Node() {
    for (pid_t p : kids_) kill(p, SIGKILL);
    for (pid_t p : kids_) waitpid(p, nullptr, 0);
    for (auto it = v1_.rbegin(); it != v1_.rend(); ++it)
      for (int i = 0; i < 100 && rmdir(it->c_str()) != 0 && errno == EBUSY; i++)
        std::this_thread::sleep_for(20ms);
  }
  static MachineCgroups Detect() {
    auto m = MachineCgroups::Detect();
    if (!m.ok()) throw std::runtime_error(m.error().message);
    return *m;
  }
  bool v1() const { return !m_.cpuset_v2(); }
  std::string Cpuset(const std::string& cg) const { return JoinPath(root_, cg); }
  std::string Cpus(const std::string& cg) const {
    return Trim(ReadFile(Cpuset(cg) + "/cpuset.cpus").value_or("?"));
  }
  void Create(const std::string& cg) {
    ASSERT_NO_FATAL_FAILURE(cgroups_.Create(cg));
    if (!v1()) return;
    const std::string d = Cpuset(cg), parent = d.substr(0, d.find_last_of('/'));
    ASSERT_EQ(mkdir(d.c_str(), 0755), 0) << d << ": " << strerror(errno);
    v1_.push_back(d);
    ASSERT_TRUE(WriteString(d + "/cpuset.cpus", Trim(*ReadLine(parent + "/cpuset.cpus"))));
    ASSERT_TRUE(WriteString(d + "/cpuset.mems", Trim(*ReadLine(parent + "/cpuset.mems"))));
  }
  // What kubelet's static policy does to a Guaranteed container.
  void Pin(const std::string& cg, const std::string& cpus) {
    ASSERT_TRUE(WriteString(Cpuset(cg) + "/cpuset.cpus", cpus))
        << cg << " cpuset.cpus=" << cpus << ": " << strerror(errno);
  }
  pid_t Start(const std::string& cg) {
    std::vector<std::string> files;
    for (const std::string& r : m_.CpuRoots()) files.push_back(JoinPath(r, cg) + "/cgroup.procs");
    if (Cpuset(cg) != m_.CpuDir(cg)) files.push_back(Cpuset(cg) + "/cgroup.procs");
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (const std::string& f : files)
        if (!WriteString(f, "0")) _exit(3);
      execl(SW_ENFORCE_TEST_HELPER, SW_ENFORCE_TEST_HELPER, "spin", "1", nullptr);
      _exit(4);
    }
    kids_.push_back(pid);
    for (int i = 0; i < 250; i++) {
      if (ReadLine("/proc/" + std::to_string(pid) + "/comm").value_or("") == "sw_enforce_test")
        break;
      std::this_thread::sleep_for(20ms);
    }
    return pid;
  }

 private:
  MachineCgroups m_;
  test::ScopedCgroups cgroups_;
  std::string root_;
  std::vector<std::string> v1_;
  std::vector<pid_t> kids_;
};

// kubelet replaces its checkpoint with a rename.
void PutState(const test::TempTree& t, const std::string& json) {
  const std::string tmp = t.Write("k8s-classes-state.tmp", json);
  ASSERT_EQ(std::rename(tmp.c_str(), t.Path("cpu_manager_state").c_str()), 0);
}

// The highest CPU's core: what the allocator prefers, so what kubelet's assignment must hide.
CpuSet LastCore() {
  const std::string all = Trim(*ReadLine("/sys/devices/system/cpu/online"));
  const int last = *ParseCpuList(all)->rbegin();
  auto s = ReadLine("/sys/devices/system/cpu/cpu" + std::to_string(last) +
                    "/topology/thread_siblings_list");
  return s ? *ParseCpuList(Trim(*s)) : CpuSet{last};
}

TEST(K8sCpuManager, GuaranteedCpusAreNeverGrantedShieldedOrNarrowed) {
  SW_REQUIRE_PRIVILEGED();
  const std::string all = Trim(*ReadLine("/sys/devices/system/cpu/online"));
  const CpuSet core = LastCore();
  if (core.count(0)) GTEST_SKIP() << "one core: nothing can be exclusive";
  const std::string pinned = FormatCpuList(core);
  Node node;
  const std::string p = "/sw-k8s-classes-" + std::to_string(getpid());
  const std::string kp = p + "/kubepods", bu = kp + "/burstable", pod_l = bu + "/podl",
                    ctr_l = pod_l + "/l1", pod_g = kp + "/podg", ctr_g = pod_g + "/g1";
  for (const std::string& cg : {p, kp, bu, pod_l, ctr_l, pod_g, ctr_g})
    ASSERT_NO_FATAL_FAILURE(node.Create(cg));
  ASSERT_NO_FATAL_FAILURE(node.Pin(ctr_g, pinned));
  const pid_t lc = node.Start(ctr_l), g = node.Start(ctr_g);
  ASSERT_EQ(Allowed(g), pinned);
  std::map<std::string, std::string> cpus_before;  // v1 lists the CPUs, v2 may leave it empty
  for (const std::string& cg : {kp, bu, pod_l, ctr_l, pod_g}) cpus_before[cg] = node.Cpus(cg);

  test::TempTree t;
  const std::string entries =
      R"({"policyName":"static","defaultCpuSet":"0","entries":{"g":{"g1":")" + pinned +
      R"("}},"checksum":1})";
  PutState(t, entries);
  CpuManagerStateReader reader(t.Path("cpu_manager_state"));
  RealSystemWriter w;
  EnforcerConfig cfg;
  cfg.state_dir = t.Path("state");
  cfg.allocator = {.shared_pool_min_cores = 1, .max_exclusive_fraction = 1.0};
  std::unique_ptr<Enforcer> e;
  struct Guard {  // everything back, even after a failed assertion
    std::unique_ptr<Enforcer>* e;
    std::string dir;
    ~Guard() {
      if (*e) (void)(*e)->Shutdown();
      e->reset();
      RealSystemWriter w;
      auto r = RestoreFromJournal(dir, w, {});
      if (r && !r->Complete()) ADD_FAILURE() << "teardown restore:\n" << r->Summary();
    }
  } guard{&e, cfg.state_dir};
  auto made = Enforcer::Create(cfg, w);
  ASSERT_TRUE(made.ok()) << made.error().message;
  e = std::move(*made);

  // 1. Assigned: never granted.
  auto r = reader.Refresh();
  ASSERT_TRUE(r.view.known);
  ASSERT_EQ(r.view.assigned, core);
  EXPECT_TRUE(e->SetUnavailableCpus(r.view.assigned, kWho).empty());
  auto first = e->Promote("podl", pod_l, static_cast<int>(core.size()));
  ASSERT_TRUE(first.ok()) << first.error().message;
  if (first->granted()) {  // a bigger machine: other cores
    for (int cpu : core) EXPECT_FALSE(first->allocation.cpus.count(cpu));
    ASSERT_TRUE(e->Release("podl").ok());
  } else {
    EXPECT_NE(first->allocation.reason.find(kWho), std::string::npos) << first->allocation.reason;
  }
  ASSERT_TRUE(e->Sweep().ok());
  EXPECT_EQ(node.Cpus(ctr_g), pinned);
  EXPECT_EQ(Allowed(g), pinned);
  EXPECT_EQ(Allowed(lc), all);

  // 2. kubelet's policy is none now (the Guaranteed pod went, its container back on all CPUs).
  ASSERT_NO_FATAL_FAILURE(node.Pin(ctr_g, all));
  PutState(t, R"({"policyName":"none","defaultCpuSet":"","checksum":2})");
  r = reader.Refresh();
  ASSERT_TRUE(r.changed);
  EXPECT_TRUE(e->SetUnavailableCpus(r.view.assigned, kWho).empty());
  auto second = e->Promote("podl", pod_l, static_cast<int>(core.size()));
  const bool nested_unsupported =
      !node.v1() && !PathExists(node.Cpuset(pod_l) + "/cpuset.cpus.exclusive");
  if (nested_unsupported) {  // cgroup v2 before 6.7: no nested partition; step 3 needs one
    ASSERT_FALSE(second.ok() && second->granted());
    if (!second.ok())
      EXPECT_NE(second.error().message.find("Linux 6.7+"), std::string::npos)
          << second.error().message;
    return;
  }
  ASSERT_TRUE(second.ok()) << second.error().message;
  ASSERT_TRUE(second->granted()) << second->allocation.reason;
  ASSERT_EQ(second->allocation.cpus, core);
  EXPECT_EQ(Allowed(lc), pinned);

  // 3. kubelet assigns the core to the Guaranteed container (it does not know the agent's
  // grant) and writes its cpuset before the agent's next interval.
  PutState(t, entries);
  ASSERT_NO_FATAL_FAILURE(node.Pin(ctr_g, pinned));
  r = reader.Refresh();
  ASSERT_TRUE(r.changed);
  EXPECT_EQ(e->SetUnavailableCpus(r.view.assigned, kWho), std::vector<std::string>{"podl"});
  ASSERT_TRUE(e->Release("podl").ok());  // what the controller does for the holder
  ASSERT_TRUE(e->Sweep().ok());
  EXPECT_EQ(node.Cpus(ctr_g), pinned) << "kubelet's write must stand";
  EXPECT_EQ(Allowed(g), pinned);
  EXPECT_EQ(Allowed(lc), all);
  auto third = e->Promote("podl", pod_l, static_cast<int>(core.size()));
  ASSERT_TRUE(third.ok()) << third.error().message;
  if (third->granted()) {
    for (int cpu : core) EXPECT_FALSE(third->allocation.cpus.count(cpu));
  }
  RestoreReport rep = e->Shutdown();
  EXPECT_TRUE(rep.Complete()) << rep.Summary();
  e.reset();
  EXPECT_EQ(node.Cpus(ctr_g), pinned);
  for (const std::string& cg : {kp, bu, pod_l, ctr_l, pod_g})
    EXPECT_EQ(node.Cpus(cg), cpus_before[cg]) << cg;
  EXPECT_EQ(Allowed(lc), all);
  EXPECT_EQ(Allowed(g), pinned);
}

}  // namespace
}  // namespace sw

// Privileged: exclusive cores for a pod in a cgroup tree built the way kubelet and containerd
// build it (issue 14), with both cgroup drivers' names: cgroupfs
// /kubepods/burstable/pod<uid>/<id>, systemd kubepods.slice/kubepods-burstable.slice/
// kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope, made in the cpu (and cpuacct)
// and the cpuset hierarchy, v1 cpusets copied from the parent as runc does. While a core is
// exclusive: (a) a new pod and container can be created with the node's CPUs, (b) a process
// started in the pod's container runs on the exclusive CPUs, (c) other containers' processes
// leave them within one Sweep, and (d) after a release, a shutdown (SIGTERM's path) or kill -9
// and `restore`, every cgroup's cpus, mems and membership equal the snapshot taken before
// (ground truth: cgroupfs files and /proc/<pid>/status Cpus_allowed_list). Processes and
// cgroups are removed by destructors, also when an assertion fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>

#include "common/cpulist.h"
#include "common/fs.h"
#include "enforce/enforcer.h"
#include "enforce/restore.h"
#include "support/cgroup_layout.h"
#include "support/privileged.h"
#include "support/scoped_cgroups.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using namespace std::chrono_literals;
using test::MachineCgroups;

MachineCgroups Machine() {
  auto m = MachineCgroups::Detect();
  if (!m.ok()) throw std::runtime_error(m.error().message);
  return *m;
}

std::string Status(pid_t pid, const std::string& key) {
  for (const std::string& line :
       Split(ReadFile("/proc/" + std::to_string(pid) + "/status").value_or(""), '\n'))
    if (line.rfind(key + ":", 0) == 0) return Trim(line.substr(key.size() + 1));
  return "?";
}
std::string Allowed(pid_t pid) { return Status(pid, "Cpus_allowed_list"); }

int ThreadsPerCore() {
  auto s = ReadLine("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list");
  auto c = s ? ParseCpuList(Trim(*s)) : Result<CpuSet>(Error{ENOENT, ""});
  return c && !c->empty() ? static_cast<int>(c->size()) : 1;
}

bool WriteString(const std::string& path, const std::string& v) {
  int fd = open(path.c_str(), O_WRONLY);
  if (fd < 0) return false;
  bool ok = write(fd, v.data(), v.size()) == static_cast<ssize_t>(v.size());
  close(fd);
  return ok;
}

// The node: its cgroups (in every hierarchy the agent reads) and container processes.
class K8sNode {
 public:
  explicit K8sNode(bool systemd)
      : m_(Machine()),
        cgroups_(m_),
        systemd_(systemd),
        tag_(std::to_string(getpid())),
        cpuset_root_(m_.cpuset_root()) {}
  ~K8sNode() {
    for (pid_t p : kids_) kill(p, SIGKILL);
    for (pid_t p : kids_) waitpid(p, nullptr, 0);
    for (auto it = v1_cpusets_.rbegin(); it != v1_cpusets_.rend(); ++it)
      for (int i = 0; i < 100 && rmdir(it->c_str()) != 0 && errno == EBUSY; i++)
        std::this_thread::sleep_for(20ms);
    for (const std::string& d : v1_cpusets_)
      if (PathExists(d)) ADD_FAILURE() << "could not remove " << d;
  }
  bool cpuset_v1() const { return !m_.cpuset_v2(); }
  std::string Top() const { return systemd_ ? "/kubepods.slice" : "/kubepods"; }
  std::string Qos() const {
    return systemd_ ? Top() + "/kubepods-burstable.slice" : Top() + "/burstable";
  }
  std::string Pod(const std::string& uid) const {
    return Qos() +
           (systemd_ ? "/kubepods-burstable-pod" + uid + tag_ + ".slice" : "/pod" + uid + tag_);
  }
  std::string Ctr(const std::string& uid, const std::string& id) const {
    return Pod(uid) + (systemd_ ? "/cri-containerd-" + id + tag_ + ".scope" : "/" + id + tag_);
  }
  std::string CpusetDir(const std::string& cg) const { return JoinPath(cpuset_root_, cg); }
  // Like kubelet / runc: the cgroup in every hierarchy; a v1 cpuset gets its parent's cpus and
  // mems (or, with `cpus`, those: the node's, as a runtime asks for).
  void Create(const std::string& cg, const std::string& cpus = "") {
    ASSERT_NO_FATAL_FAILURE(cgroups_.Create(cg));
    if (!cpuset_v1()) {
      if (!cpus.empty()) {
        ASSERT_TRUE(WriteString(CpusetDir(cg) + "/cpuset.cpus", cpus))
            << "v2 " << cg << " cpuset.cpus=" << cpus << ": " << strerror(errno);
      }
      return;
    }
    const std::string d = CpusetDir(cg), parent = d.substr(0, d.find_last_of('/'));
    ASSERT_EQ(mkdir(d.c_str(), 0755), 0) << d << ": " << strerror(errno);
    v1_cpusets_.push_back(d);
    const std::string want = cpus.empty() ? Trim(*ReadLine(parent + "/cpuset.cpus")) : cpus;
    ASSERT_TRUE(WriteString(d + "/cpuset.cpus", want))
        << "cpuset.cpus=" << want << " in " << d << ": " << strerror(errno);
    ASSERT_TRUE(WriteString(d + "/cpuset.mems", Trim(*ReadLine(parent + "/cpuset.mems"))));
  }
  // A process started in container cgroup `cg` (joins every hierarchy before it execs).
  pid_t Start(const std::string& cg) {
    std::vector<std::string> files;
    for (const std::string& root : m_.CpuRoots())
      files.push_back(JoinPath(JoinPath(root, cg), "cgroup.procs"));
    if (CpusetDir(cg) != m_.CpuDir(cg)) files.push_back(CpusetDir(cg) + "/cgroup.procs");
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
  // Every cgroup's cpuset files and processes, every process's memberships.
  std::map<std::string, std::string> State(const std::vector<std::string>& cgs) const {
    std::map<std::string, std::string> s;
    for (const std::string& cg : cgs) {
      for (const char* f : {"cpuset.cpus", "cpuset.mems", "cpuset.cpus.exclusive",
                            "cpuset.cpus.partition", "cpuset.cpus.effective"}) {
        const std::string p = JoinPath(CpusetDir(cg), f);
        if (PathExists(p)) s[cg + " " + f] = Trim(ReadFile(p).value_or("?"));
      }
      for (const std::string& root : m_.CpuRoots())
        s[cg + " procs@" + root] = ReadFile(JoinPath(root, cg) + "/cgroup.procs").value_or("?");
      s[cg + " procs@cpuset"] = ReadFile(CpusetDir(cg) + "/cgroup.procs").value_or("?");
    }
    for (pid_t p : kids_) {
      s["pid " + std::to_string(p) + " cgroups"] =
          ReadFile("/proc/" + std::to_string(p) + "/cgroup").value_or("?");
      s["pid " + std::to_string(p) + " cpus"] = Allowed(p);
    }
    return s;
  }
  const MachineCgroups& machine() const { return m_; }

 private:
  MachineCgroups m_;
  test::ScopedCgroups cgroups_;  // cpu, cpuacct, and a cgroup2 cpuset (after the v1 ones)
  bool systemd_;
  std::string tag_;
  std::string cpuset_root_;
  std::vector<std::string> v1_cpusets_;
  std::vector<pid_t> kids_;
};

std::string Diff(const std::map<std::string, std::string>& a,
                 const std::map<std::string, std::string>& b) {
  std::string d;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    std::string w = it == b.end() ? "(absent)" : it->second;
    if (w != v) d += k + ": '" + v + "' -> '" + w + "'\n";
  }
  return d;
}

enum class Undo { kRelease, kShutdown, kKillThenRestore };

struct Case {
  bool systemd;
  Undo undo;
};

class EnforceK8sTree : public ::testing::TestWithParam<Case> {};

// What the agent does: Create, Promote the pod, Sweep every interval.
std::unique_ptr<Enforcer> StartEnforcer(const std::string& state_dir, RealSystemWriter& w) {
  EnforcerConfig cfg;
  cfg.state_dir = state_dir;
  cfg.allocator = {.shared_pool_min_cores = 1, .max_exclusive_fraction = 0.5};
  auto e = Enforcer::Create(cfg, w);
  if (!e) throw std::runtime_error(e.error().message);
  return std::move(*e);
}

TEST_P(EnforceK8sTree, ExclusiveCoreWhileTheRuntimeKeepsCreatingAndOwningCgroups) {
  SW_REQUIRE_PRIVILEGED();
  const Case c = GetParam();
  K8sNode node(c.systemd);
  ASSERT_FALSE(PathExists(node.machine().CpuDir(node.Top())))
      << node.Top() << " exists already: a real node or a leftover; not touching it";
  const std::string all = Trim(*ReadLine("/sys/devices/system/cpu/online"));
  for (const std::string& cg : {node.Top(), node.Qos(), node.Pod("L"), node.Ctr("L", "l1"),
                                node.Pod("O"), node.Ctr("O", "o1")})
    ASSERT_NO_FATAL_FAILURE(node.Create(cg));
  const pid_t lc = node.Start(node.Ctr("L", "l1"));
  const pid_t other = node.Start(node.Ctr("O", "o1"));
  const std::vector<std::string> tree = {node.Top(),    node.Qos(),          node.Pod("L"),
                                         node.Pod("O"), node.Ctr("L", "l1"), node.Ctr("O", "o1")};
  const auto before = node.State(tree);

  test::TempTree state;
  const std::string state_dir = state.Path("state");
  RealSystemWriter w;
  std::unique_ptr<Enforcer> enforcer;
  pid_t agent = -1;  // kill -9 case: the enforcer runs in a child that is killed
  struct Guard {     // restores whatever is left, even after a failed assertion
    std::string dir;
    std::unique_ptr<Enforcer>* e;
    pid_t* agent;
    ~Guard() {
      if (*agent > 0) kill(*agent, SIGKILL), waitpid(*agent, nullptr, 0);
      RealSystemWriter w;
      if (*e) (void)(*e)->Shutdown();
      e->reset();
      auto r = RestoreFromJournal(dir, w, {});
      if (r && !r->Complete()) ADD_FAILURE() << "teardown restore:\n" << r->Summary();
    }
  } guard{state_dir, &enforcer, &agent};
  int to_parent[2], to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  if (c.undo == Undo::kKillThenRestore) {
    agent = fork();
    if (agent == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      RealSystemWriter cw;
      auto e = StartEnforcer(state_dir, cw);
      auto p = e->Promote("podL", node.Pod("L"), ThreadsPerCore());
      std::string msg = !p              ? "ERR " + p.error().message
                        : !p->granted() ? "REFUSED " + p->allocation.reason
                                        : FormatCpuList(p->allocation.cpus);
      msg += "\n";
      (void)!write(to_parent[1], msg.data(), msg.size());
      char go;
      while (read(to_child[0], &go, 1) == 1) {  // one Sweep per byte, then an answer
        (void)e->Sweep();
        (void)!write(to_parent[1], "k", 1);
      }
      pause();
      _exit(0);
    }
  } else {
    enforcer = StartEnforcer(state_dir, w);
  }
  CpuSet grant;
  std::string refused;
  if (agent > 0) {
    char buf[512] = {};
    ssize_t n = read(to_parent[0], buf, sizeof(buf) - 1);
    ASSERT_GT(n, 0);
    std::string line = Trim(std::string(buf, n));
    if (line.rfind("ERR ", 0) == 0 || line.rfind("REFUSED ", 0) == 0)
      refused = line;
    else
      grant = *ParseCpuList(line);
  } else {
    auto p = enforcer->Promote("podL", node.Pod("L"), ThreadsPerCore());
    if (!p)
      refused = "ERR " + p.error().message;
    else if (!p->granted())
      refused = "REFUSED " + p->allocation.reason;
    else
      grant = p->allocation.cpus;
  }
  auto sweep = [&] {
    if (agent > 0) {
      char done;
      ASSERT_EQ(write(to_child[1], "s", 1), 1);
      ASSERT_EQ(read(to_parent[0], &done, 1), 1);  // the child swept
    } else {
      auto s = enforcer->Sweep();
      EXPECT_TRUE(s.ok()) << s.error().message;
    }
  };
  const bool nested_unsupported =
      !node.cpuset_v1() && !PathExists(node.CpusetDir(node.Pod("L")) + "/cpuset.cpus.exclusive");
  if (nested_unsupported) {
    // cgroup v2 before 6.7: refused, naming the cgroup and the limitation; nothing changed.
    EXPECT_NE(refused.find("cannot be made exclusive on this kernel"), std::string::npos)
        << refused;
    EXPECT_NE(refused.find(node.Pod("L")), std::string::npos) << refused;
    EXPECT_EQ(Diff(before, node.State(tree)), "");
    return;
  }
  ASSERT_TRUE(refused.empty()) << refused;
  EXPECT_FALSE(grant.count(0)) << "CPU 0 stays shared: " << FormatCpuList(grant);
  CpuSet shared = *ParseCpuList(all);
  for (int cpu : grant) shared.erase(cpu);

  // (b) The pod's container runs on its CPUs, so does a process started there now (an exec).
  EXPECT_EQ(Allowed(lc), FormatCpuList(grant));
  const pid_t exec = node.Start(node.Ctr("L", "l1"));
  EXPECT_EQ(Allowed(exec), FormatCpuList(grant));
  // The runtime's cgroups keep their tasks: the exec is where its container is, in every
  // hierarchy, and the container's cpuset lists both.
  EXPECT_EQ(ReadFile("/proc/" + std::to_string(exec) + "/cgroup").value_or("?"),
            ReadFile("/proc/" + std::to_string(lc) + "/cgroup").value_or("!"));
  EXPECT_EQ(ReadFile(node.CpusetDir(node.Ctr("L", "l1")) + "/cgroup.procs").value_or("?"),
            std::to_string(std::min(lc, exec)) + "\n" + std::to_string(std::max(lc, exec)) + "\n");
  if (node.cpuset_v1()) {
    for (const std::string& cg : {node.Top(), node.Qos(), node.Pod("L"), node.Pod("O")})
      EXPECT_EQ(Trim(*ReadLine(node.CpusetDir(cg) + "/cpuset.cpus")), all) << cg;
  }
  // (c) Other containers are off those CPUs (v2: at once; v1: after the promotion's writes).
  EXPECT_EQ(Allowed(other), FormatCpuList(shared));

  // (a) A new pod and container, created with the node's CPUs, and one more container in the
  // promoted pod; their processes (c) leave / (b) get the exclusive CPUs within one Sweep.
  // (v1: within kubepods' CPUs, which the agent left whole; v2 6.7+: the kernel accepts CPUs
  // of a remote partition in cpuset.cpus and leaves them out of the effective set.)
  ASSERT_NO_FATAL_FAILURE(node.Create(node.Pod("N"), all));
  ASSERT_NO_FATAL_FAILURE(node.Create(node.Ctr("N", "n1"), all));
  ASSERT_NO_FATAL_FAILURE(node.Create(node.Ctr("L", "l2")));
  const pid_t fresh = node.Start(node.Ctr("N", "n1"));
  const pid_t second = node.Start(node.Ctr("L", "l2"));
  ASSERT_NO_FATAL_FAILURE(sweep());
  EXPECT_EQ(Allowed(fresh), FormatCpuList(shared));
  EXPECT_EQ(Allowed(second), FormatCpuList(grant));
  EXPECT_EQ(Allowed(other), FormatCpuList(shared));
  EXPECT_EQ(Allowed(lc), FormatCpuList(grant));

  // (d) Undo, three ways.
  if (c.undo == Undo::kRelease) {
    auto r = enforcer->Release("podL");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->Complete());
  } else if (c.undo == Undo::kShutdown) {
    RestoreReport r = enforcer->Shutdown();
    EXPECT_TRUE(r.Complete()) << r.Summary();
  } else {
    kill(agent, SIGKILL);
    waitpid(agent, nullptr, 0);
    agent = -1;
    auto r = RestoreFromJournal(state_dir, w, {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->Complete()) << r->Summary();
    EXPECT_GT(r->outstanding_before, 0);
  }
  auto after = node.State(tree);
  for (pid_t p : {exec, fresh, second}) {  // started later: not in `before`
    after.erase("pid " + std::to_string(p) + " cgroups");
    after.erase("pid " + std::to_string(p) + " cpus");
  }
  // The cgroup.procs lists gained the processes started later, in their own cgroups.
  for (auto& [k, v] : after)
    if (k.find(" procs@") != std::string::npos) {
      std::string kept;
      for (const std::string& pid : Split(v, '\n'))
        if (!pid.empty() && pid != std::to_string(exec) && pid != std::to_string(second))
          kept += pid + "\n";
      v = kept;
    }
  EXPECT_EQ(Diff(before, after), "");
  for (pid_t p : {exec, fresh, second}) EXPECT_EQ(Allowed(p), all) << p;
  if (node.cpuset_v1()) {
    for (const std::string& cg : {node.Pod("N"), node.Ctr("N", "n1"), node.Ctr("L", "l2")})
      EXPECT_EQ(Trim(*ReadLine(node.CpusetDir(cg) + "/cpuset.cpus")), all) << cg;
  }
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  static const char* const kUndo[] = {"Release", "Shutdown", "KillThenRestore"};
  return std::string(info.param.systemd ? "systemd" : "cgroupfs") +
         kUndo[static_cast<int>(info.param.undo)];
}

INSTANTIATE_TEST_SUITE_P(Drivers, EnforceK8sTree,
                         ::testing::Values(Case{false, Undo::kRelease}, Case{true, Undo::kRelease},
                                           Case{false, Undo::kShutdown},
                                           Case{true, Undo::kShutdown},
                                           Case{false, Undo::kKillThenRestore},
                                           Case{true, Undo::kKillThenRestore}),
                         CaseName);

}  // namespace
}  // namespace sw

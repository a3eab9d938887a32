// Privileged CLI contracts against kernel ground truth: after `kill -9` of an enforcing agent the
// journal lets `schedwarden restore` (or the next `schedwarden run`) put back every CPU affinity,
// cpuset, cpu.idle, CPU weight and scheduling policy it changed, as SIGTERM does; `status`
// reports a running agent.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include "cli_helpers.h"
#include "common/cpulist.h"
#include "common/fs.h"
#include "support/cgroup_layout.h"
#include "support/privileged.h"
#include "support/process.h"
#include "support/scoped_cgroups.h"
#include "support/temp_tree.h"

namespace sw::test {
namespace {

using namespace std::chrono_literals;

bool JournalHasContent(const std::string& state_dir) {
  std::error_code ec;
  auto size = std::filesystem::file_size(state_dir + "/journal", ec);
  return !ec && size > 0;
}

bool PortAccepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// One physical core: exclusive CPUs are whole cores (hyperthread siblings together).
int ThreadsPerCore() {
  auto s = ReadFile("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list");
  auto cpus = s.ok() ? ParseCpuList(Trim(*s)) : Result<CpuSet>(Error{ENOENT, ""});
  return cpus.ok() && !cpus->empty() ? static_cast<int>(cpus->size()) : 1;
}

ChildProcess Busy() {
  return ChildProcess::Fork([] {
    volatile unsigned long x = 0;
    for (;;) x = x + 1;
  });
}

// A latency-critical cgroup with a busy process (exclusive: always), a second latency-critical
// one left in the shared pool, and a best-effort cgroup with hogs, the same paths in the cpu and
// cpuacct hierarchies; what the machine looked like before any agent ran;
// the agent (killed on destruction) and, on destruction, a `schedwarden restore` of whatever
// journal is left. Members are destroyed in reverse order: agent, restore, then processes and
// cgroups.
class Scenario {
 public:
  explicit Scenario(const std::string& name)
      : top_("/schedwarden-cli-" + std::to_string(getpid()) + "-" + name),
        lc_(top_ + "-lc"),
        machine_(Machine()),
        cgroups_(machine_) {
    // lc sits directly under the root: before Linux 6.7 (Debian 12's 6.1) a cgroup v2 partition
    // cannot nest in a cgroup that is not one itself (the unit tests and the VM tier check that
    // refusal).
    for (const std::string& cg : {lc_, top_, top_ + "/victim", top_ + "/be"}) cgroups_.Create(cg);
    busy_.push_back(Busy());
    cgroups_.Join(lc_, busy_.back().pid());
    // A second latency-critical workload that stays in the shared pool with the hogs: its
    // objective is violated there, so the agent also demotes the hogs (cpu.idle / SCHED_IDLE).
    busy_.push_back(Busy());
    cgroups_.Join(top_ + "/victim", busy_.back().pid());
    const int ncpu = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    for (int i = 0; i < ncpu; i++) {
      hogs_.push_back(Busy());
      cgroups_.Join(top_ + "/be", hogs_.back().pid());
    }
    for (auto* group : {&busy_, &hogs_})
      for (auto& p : *group) {
        cpus_before_[p.pid()] = CpusAllowed(p.pid());
        for (pid_t t : ThreadsOf(p.pid())) policy_before_[t] = PolicyOf(t);
      }
    cpus_before_[getpid()] = CpusAllowed(getpid());
    // A weight of its own (what kubelet writes for a pod's CPU requests), which demotion must
    // not lose.
    cgroups_.WriteCpu(top_ + "/be", machine_.weight_file(), machine_.cpu_v2() ? "200" : "2048");
    be_idle_before_ = cgroups_.ReadCpu(top_ + "/be", "cpu.idle");
    be_weight_before_ = cgroups_.ReadCpu(top_ + "/be", machine_.weight_file());
    lc_cpuset_before_ = cgroups_.CpusetFiles(lc_);
    port_ = FreePort();
  }

  ~Scenario() {
    agent_.reset();  // SIGKILL and reap
    if (JournalHasContent(state_dir())) {
      CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "restore", "--state-dir", state_dir()});
      if (r.exit_code() != 0)
        ADD_FAILURE() << "teardown restore failed (" << r.status << "): " << r.out << r.err;
    }
  }

  std::string Config(const std::string& mode) const {
    return tmp_.Write("config-" + mode + ".yaml",
                      "interval: 200ms\n"
                      "controller: { improvement_margin: 0.01 }\n"
                      "enforcement:\n"
                      "  mode: " +
                          mode +
                          "\n"
                          "workloads:\n"
                          "  - name: probe\n"
                          "    match: { cgroup: \"" +
                          lc_ +
                          "\" }\n"
                          "    class: latency-critical\n"
                          "    slo: { runq_p99: 2ms }\n"
                          "    exclusive: always\n"
                          "    exclusive_cpus: " +
                          std::to_string(ThreadsPerCore()) +
                          "\n"
                          "  - name: victim\n"
                          "    match: { cgroup: \"" +
                          top_ +
                          "/victim\" }\n"
                          "    class: latency-critical\n"
                          "    slo: { runq_p99: 100us }\n"
                          "    exclusive: never\n"
                          "  - name: hogs\n"
                          "    match: { cgroup: \"" +
                          top_ +
                          "/be\" }\n"
                          "    class: best-effort\n");
  }

  void StartAgent(const std::string& mode, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        SCHEDWARDEN_BINARY, "run",       "--config", Config(mode),
        "--state-dir",      state_dir(), "--listen", "127.0.0.1:" + std::to_string(port_)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    agent_ = std::make_unique<ChildProcess>(ChildProcess::Exec(argv));
  }
  // WNOWAIT: leaves reaping (and the exit status) to ChildProcess.
  bool AgentAlive() const {
    if (!agent_) return false;
    siginfo_t info{};
    return waitid(P_PID, agent_->pid(), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
  }
  int SignalAgent(int sig, int timeout_ms) { return agent_->Signal(sig, timeout_ms); }

  // Ground truth that the promotion happened: the busy process moved off the CPUs it had.
  bool Promoted() const { return CpusAllowed(busy_pid()) != cpus_before_.at(busy_pid()); }
  // Ground truth that the best-effort hogs were demoted.
  bool Demoted() const {
    if (cgroups_.ReadCpu(top_ + "/be", "cpu.idle") != be_idle_before_) return true;
    for (const auto& [tid, policy] : policy_before_)
      if (PolicyOf(tid) != policy && PolicyOf(tid) != -1) return true;
    return false;
  }
  // ... and that it is exclusive: this test process (another user task) and the best-effort hogs
  // may no longer run on any of its CPUs.
  bool Exclusive() const {
    auto cpus = ParseCpuList(CpusAllowed(busy_pid()));
    if (!cpus || cpus->empty()) return false;
    for (const auto& [pid, before] : cpus_before_) {
      if (pid == busy_pid()) continue;
      auto other = ParseCpuList(CpusAllowed(pid));
      if (!other) return false;
      for (int c : *cpus)
        if (other->count(c)) return false;
    }
    return true;
  }

  // Waits until cond() holds while the agent runs; false on timeout or agent exit.
  template <typename F>
  bool WaitFor(F cond, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (cond()) return true;
      if (!AgentAlive()) return false;
      std::this_thread::sleep_for(100ms);
    }
    return cond();
  }

  // Every value recorded before the agent ran is back.
  void ExpectRestored() const {
    for (const auto& [pid, cpus] : cpus_before_)
      EXPECT_EQ(CpusAllowed(pid), cpus) << "Cpus_allowed_list of pid " << pid;
    EXPECT_TRUE(SchedwardenCpusets(machine_.cpuset_root()).empty())
        << "left behind: " << ::testing::PrintToString(SchedwardenCpusets(machine_.cpuset_root()));
    EXPECT_EQ(cgroups_.CpusetRestoreDiff(lc_, lc_cpuset_before_), "");
    EXPECT_EQ(cgroups_.ReadCpu(top_ + "/be", "cpu.idle"), be_idle_before_) << "cpu.idle of be";
    EXPECT_EQ(cgroups_.ReadCpu(top_ + "/be", machine_.weight_file()), be_weight_before_)
        << machine_.weight_file() << " of be";
    for (const auto& [tid, policy] : policy_before_)
      EXPECT_EQ(PolicyOf(tid), policy) << "scheduling policy of tid " << tid;
  }

  // kubelet's part: cpu.idle of the best-effort cgroup cleared and a weight of its own written
  // (not the one before the agent ran, so that a stale write-back would show); returns it.
  std::string BeIdle() const { return cgroups_.ReadCpu(top_ + "/be", "cpu.idle"); }
  std::string BeWeight() const { return cgroups_.ReadCpu(top_ + "/be", machine_.weight_file()); }
  std::string RewriteBeLikeKubelet() const {
    const std::string w = std::string(machine_.weight_file()) == "cpu.shares" ? "1000" : "90";
    cgroups_.WriteCpu(top_ + "/be", "cpu.idle", "0");
    cgroups_.WriteCpu(top_ + "/be", machine_.weight_file(), w);
    return w;
  }
  std::string state_dir() const { return tmp_.Path("state"); }
  pid_t busy_pid() const { return busy_.front().pid(); }
  int port() const { return port_; }
  const std::string& top() const { return top_; }
  const std::string& lc() const { return lc_; }
  std::string cpuset_root() const { return machine_.cpuset_root(); }
  bool cpuset_v2() const { return machine_.cpuset_v2(); }
  // The exclusive CPUs in cgroupfs: the v1 shield's cpusets, or the v2 partition of lc.
  bool CpusetsChanged() const {
    if (machine_.cpuset_v2()) return cgroups_.CpusetFiles(lc_) != lc_cpuset_before_;
    return !SchedwardenCpusets(machine_.cpuset_root()).empty();
  }

 private:
  static MachineCgroups Machine() {
    auto m = MachineCgroups::Detect();
    if (!m.ok()) throw std::runtime_error(m.error().message);
    return *m;
  }

  std::string top_, lc_;
  MachineCgroups machine_;
  ScopedCgroups cgroups_;  // before the processes: removed after they are killed
  std::vector<ChildProcess> busy_, hogs_;
  std::map<pid_t, std::string> cpus_before_;
  std::map<pid_t, int> policy_before_;
  std::string be_idle_before_, be_weight_before_;
  std::vector<std::pair<std::string, std::string>> lc_cpuset_before_;
  int port_ = 0;
  TempTree tmp_;
  std::unique_ptr<ChildProcess> agent_;  // last: killed first
};

// Starts an enforcing agent, waits for the promotion in ground truth, kill -9s it and checks the
// machine stayed changed (what the journal is for).
void PromoteThenKill9(Scenario& s) {
  ASSERT_TRUE(SchedwardenCpusets(s.cpuset_root()).empty())
      << "a schedwarden cpuset exists before the test: another agent is running?";
  s.StartAgent("enforce");
  ASSERT_TRUE(s.WaitFor([&] { return s.Promoted() && s.Exclusive() && s.Demoted(); }, 30s))
      << "within 30 s the agent did not both give the latency-critical workload exclusive CPUs "
         "(promoted "
      << s.Promoted() << ", exclusive " << s.Exclusive() << ") and demote the hogs (" << s.Demoted()
      << "; agent alive " << s.AgentAlive() << ")";
  // Killed at once: left running, the verify step could revert a demotion that did not help.
  int status = s.SignalAgent(SIGKILL, 10000);
  ASSERT_NE(status, -1);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  EXPECT_TRUE(s.Promoted() && s.Exclusive() && s.Demoted())
      << "changes vanished with the agent: nothing for the journal to do (promoted " << s.Promoted()
      << ", exclusive " << s.Exclusive() << ", demoted " << s.Demoted() << ")";
  EXPECT_TRUE(s.CpusetsChanged()) << "no shield cpuset (v1) nor partition (v2) after the kill";
  ASSERT_TRUE(JournalHasContent(s.state_dir())) << "no journal in " << s.state_dir();
  // status must not pass a killed agent's last file off as a running agent.
  CommandResult st = RunCommand({SCHEDWARDEN_BINARY, "status", "--state-dir", s.state_dir()});
  EXPECT_EQ(st.exit_code(), 1) << st.out << st.err;
  EXPECT_TRUE(Contains(st.err, "not running")) << st.err;
  EXPECT_TRUE(Contains(st.err, "schedwarden restore --state-dir " + s.state_dir())) << st.err;
}

TEST(CliPrivileged, RestoreAfterKill9PutsEverythingBackAndIsIdempotent) {
  SW_REQUIRE_PRIVILEGED();
  Scenario s("restore");
  PromoteThenKill9(s);
  if (HasFatalFailure()) return;

  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "restore", "--state-dir", s.state_dir()});
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "restored")) << r.out;
  s.ExpectRestored();

  CommandResult again = RunCommand({SCHEDWARDEN_BINARY, "restore", "--state-dir", s.state_dir()});
  EXPECT_EQ(again.exit_code(), 0) << again.out << again.err;
  EXPECT_TRUE(Contains(again.out, "nothing to restore")) << again.out;
  s.ExpectRestored();
}

TEST(CliPrivileged, NextRunReconcilesAKilledRunBeforeServing) {
  SW_REQUIRE_PRIVILEGED();
  Scenario s("reconcile");
  PromoteThenKill9(s);
  if (HasFatalFailure()) return;

  // Observe mode changes nothing itself, so whatever is back was put back by the reconcile,
  // which happens before the metrics endpoint listens.
  s.StartAgent("observe");
  ASSERT_TRUE(s.WaitFor([&] { return PortAccepts(s.port()); }, 60s))
      << "the second agent never served metrics (alive: " << s.AgentAlive() << ")";
  s.ExpectRestored();

  int status = s.SignalAgent(SIGTERM, 20000);
  ASSERT_NE(status, -1) << "agent did not exit within 20 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  s.ExpectRestored();
  // The reconcile emptied the journal: a restore now has nothing left to do.
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "restore", "--state-dir", s.state_dir()});
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "nothing to restore")) << r.out;
}

TEST(CliPrivileged, SigtermUndoesEveryChangeOfAnEnforcingAgent) {
  SW_REQUIRE_PRIVILEGED();
  Scenario s("sigterm");
  ASSERT_TRUE(SchedwardenCpusets().empty())
      << "a schedwarden cpuset exists before the test: another agent is running?";
  s.StartAgent("enforce");
  ASSERT_TRUE(s.WaitFor([&] { return s.Promoted() && s.Demoted(); }, 30s))
      << "within 30 s the agent did not both promote (" << s.Promoted() << ") and demote ("
      << s.Demoted() << "; agent alive " << s.AgentAlive() << ")";
  int status = s.SignalAgent(SIGTERM, 20000);
  ASSERT_NE(status, -1) << "agent did not exit within 20 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  s.ExpectRestored();
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "restore", "--state-dir", s.state_dir()});
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "nothing to restore")) << r.out;
}

TEST(CliPrivileged, StatusReportsTheRunningAgentsWorkloads) {
  SW_REQUIRE_PRIVILEGED();
  Scenario s("status");
  // dry-run: the policy runs and classifies, the machine is not changed.
  s.StartAgent("dry-run");
  const std::vector<std::string> argv = {SCHEDWARDEN_BINARY, "status", "--state-dir", s.state_dir(),
                                         "--json"};
  nlohmann::json j;
  auto listed = [&](const std::string& rule) {
    for (const auto& w : j.value("workloads", nlohmann::json::array()))
      if (w.value("rule", "") == rule) return true;
    return false;
  };
  std::string last_out, last_err;
  bool both = s.WaitFor(
      [&] {
        CommandResult r = RunCommand(argv);
        last_out = r.out;
        last_err = r.err;
        if (r.exit_code() != 0) return false;
        j = nlohmann::json::parse(r.out, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << "status --json is not JSON: " << r.out;
        if (j.is_discarded()) return true;
        return listed("probe") && listed("hogs");
      },
      30s);
  ASSERT_TRUE(both) << "status --json never listed both workloads; last output:\n"
                    << last_out << last_err;
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j.value("mode", ""), "dry-run");
  EXPECT_EQ(j.value("cpu_count", 0), static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  for (const auto& w : j["workloads"]) {
    if (w.value("rule", "") == "probe") {
      EXPECT_EQ(w.value("class", ""), "latency-critical");
      EXPECT_EQ(w.value("cgroup", ""), s.lc());
      EXPECT_EQ(w["slo_runq_p99_ns"], 2000000);
    }
    if (w.value("rule", "") == "hogs") {
      EXPECT_EQ(w.value("class", ""), "best-effort");
      EXPECT_EQ(w.value("cgroup", ""), s.top() + "/be");
    }
  }

  // The observer rates (since the previous write, from the agent's compact RatesBase): every
  // listed workload has a row, over a window of at most the 2 s pacing period, and no window
  // hands out more CPU time than the machine has (to one workload, or to the scenario's disjoint
  // cgroups together; "/" counts its descendants); the spinning probe received some of it.
  std::map<std::string, std::string> rule_of;  // workload -> rule
  for (const auto& w : j["workloads"]) rule_of[w.value("workload", "")] = w.value("rule", "");
  nlohmann::json rates;
  ASSERT_TRUE(s.WaitFor(
      [&] {
        CommandResult r = RunCommand(argv);
        auto k = nlohmann::json::parse(r.out, nullptr, false);
        if (k.is_discarded() || !k.contains("observer")) return false;
        rates = k["observer"];
        return true;
      },
      10s))
      << "status.json never carried observer rates";
  const double window = rates.value("interval_s", 0.0);
  EXPECT_GT(window, 0.0) << rates.dump();
  EXPECT_LE(window, 2.5) << rates.dump();
  const double ncpu = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  const std::set<std::string> disjoint = {s.lc(), s.top() + "/victim", s.top() + "/be"};
  double scenario_cpus = 0, probe_cpus = -1;
  std::set<std::string> rows;
  for (const auto& w : rates.value("workloads", nlohmann::json::array())) {
    const std::string name = w.value("workload", "");
    rows.insert(name);
    if (!w["cpus"].is_number()) continue;
    const double c = w["cpus"].get<double>();
    EXPECT_LE(c, ncpu * 1.05) << name << " received more than " << ncpu << " CPUs";
    if (disjoint.count(name)) scenario_cpus += c;
    if (rule_of[name] == "probe") probe_cpus = c;
  }
  for (const auto& [workload, rule] : rule_of)
    EXPECT_TRUE(rows.count(workload)) << workload << " (" << rule << ") has no rates row";
  EXPECT_LE(scenario_cpus, ncpu * 1.05)
      << "more CPU time than " << ncpu << " CPUs have: " << rates.dump();
  EXPECT_GT(probe_cpus, 0.0) << "the spinning probe received no CPU: " << rates.dump();

  CommandResult table = RunCommand({SCHEDWARDEN_BINARY, "status", "--state-dir", s.state_dir()});
  EXPECT_EQ(table.exit_code(), 0) << table.err;
  EXPECT_TRUE(Contains(table.out, "latency-critical")) << table.out;
  EXPECT_TRUE(Contains(table.out, "best-effort")) << table.out;

  EXPECT_FALSE(s.Promoted()) << "dry-run changed the busy process's CPUs";
  int status = s.SignalAgent(SIGTERM, 20000);
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  s.ExpectRestored();

  // Stopped cleanly: status no longer presents the last interval as current.
  CommandResult stopped = RunCommand(argv);
  EXPECT_EQ(stopped.exit_code(), 1) << stopped.out << stopped.err;
  EXPECT_TRUE(Contains(stopped.err, s.state_dir())) << stopped.err;

  // An empty state dir: no agent ran there.
  TempTree none;
  const std::string dir = none.MakeDir("state");
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "status", "--state-dir", dir, "--json"});
  EXPECT_EQ(r.exit_code(), 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, dir)) << r.err;
  EXPECT_TRUE(Contains(r.err, "no agent status")) << r.err;
}

// kubelet rewrites cpu.idle of a cgroup the running agent demoted: the agent records it once in
// its audit log and metrics, and SIGTERM does not write its stale values back over kubelet's.
TEST(CliPrivileged, AKubeletRewriteIsAuditedOnceAndNotWrittenBack) {
  SW_REQUIRE_PRIVILEGED();
  Scenario s("drift");
  s.StartAgent("enforce");
  ASSERT_TRUE(s.WaitFor([&] { return s.BeIdle() == "1"; }, 30s))
      << "within 30 s the agent did not set cpu.idle of be (alive " << s.AgentAlive() << ")";
  const std::string kubelet_weight = s.RewriteBeLikeKubelet();
  const std::string audit = s.state_dir() + "/decisions.jsonl";
  auto drifts = [&] {
    int n = 0;
    for (const std::string& line : Split(ReadFile(audit).value_or(""), '\n'))
      if (Contains(line, "\"action\":\"drift\"") && Contains(line, "/be/cpu.idle")) n++;
    return n;
  };
  ASSERT_TRUE(s.WaitFor([&] { return drifts() >= 1; }, 10s))
      << "no drift record in " << audit << ":\n"
      << ReadFile(audit).value_or("");
  std::this_thread::sleep_for(2s);  // several intervals: reported once, not every interval
  EXPECT_EQ(drifts(), 1) << ReadFile(audit).value_or("");
  int status = s.SignalAgent(SIGTERM, 20000);
  ASSERT_NE(status, -1) << "agent did not exit within 20 s of SIGTERM";
  EXPECT_EQ(s.BeIdle(), "0");
  EXPECT_EQ(s.BeWeight(), kubelet_weight) << "the agent wrote a stale weight over kubelet's";
}

}  // namespace
}  // namespace sw::test

namespace sw::test {
namespace {

std::string JournalText(const std::string& state_dir) {
  return ReadFile(state_dir + "/journal").value_or("");
}

// An enforcing agent with --on-stop handover promotes and demotes, then gets SIGTERM: it exits 0
// and every change is still there (ground truth), with a handover marker in the journal.
void PromoteThenHandOver(Scenario& s) {
  s.StartAgent("enforce", {"--on-stop", "handover"});
  // Start-up first: loading BPF takes 10-15 s in a TCG VM of the matrix on a busy host.
  ASSERT_TRUE(s.WaitFor([&] { return PortAccepts(s.port()); }, 60s))
      << "the agent never served metrics (alive: " << s.AgentAlive() << ")";
  ASSERT_TRUE(s.WaitFor([&] { return s.Promoted() && s.Exclusive() && s.Demoted(); }, 60s))
      << "within 60 s: promoted " << s.Promoted() << ", exclusive " << s.Exclusive() << ", demoted "
      << s.Demoted() << ", agent alive " << s.AgentAlive();
  int status = s.SignalAgent(SIGTERM, 20000);
  ASSERT_NE(status, -1) << "agent did not exit within 20 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_TRUE(s.Promoted() && s.Exclusive() && s.Demoted())
      << "a handover stop undid something: promoted " << s.Promoted() << ", exclusive "
      << s.Exclusive() << ", demoted " << s.Demoted();
  EXPECT_TRUE(Contains(JournalText(s.state_dir()), "\"handover\"")) << "no handover marker";
}

TEST(CliPrivileged, HandoverStopLeavesEverythingAndTheNextRunAdoptsIt) {
  SW_REQUIRE_PRIVILEGED();
  Scenario s("handover");
  ASSERT_TRUE(SchedwardenCpusets(s.cpuset_root()).empty())
      << "a schedwarden cpuset exists before the test: another agent is running?";
  PromoteThenHandOver(s);
  if (HasFatalFailure()) return;
  // The next agent adopts: nothing is undone at start (checked while it serves), the journal
  // says so, and its status shows the workload holding its CPUs.
  s.StartAgent("enforce", {"--on-stop", "handover"});
  ASSERT_TRUE(s.WaitFor([&] { return PortAccepts(s.port()); }, 60s))
      << "the second agent never served metrics (alive: " << s.AgentAlive() << ")";
  EXPECT_TRUE(s.Promoted() && s.Exclusive() && s.Demoted())
      << "adoption undid something: promoted " << s.Promoted() << ", exclusive " << s.Exclusive()
      << ", demoted " << s.Demoted();
  EXPECT_TRUE(Contains(JournalText(s.state_dir()), "adopted by pid")) << "no adoption note";
  ASSERT_TRUE(s.WaitFor(
      [&] {
        CommandResult st =
            RunCommand({SCHEDWARDEN_BINARY, "status", "--state-dir", s.state_dir(), "--json"});
        if (st.exit_code() != 0) return false;
        auto j = nlohmann::json::parse(st.out, nullptr, false);
        if (j.is_discarded()) return false;
        for (const auto& w : j.value("workloads", nlohmann::json::array()))
          if (w.value("workload", "") == s.lc() && !w.value("exclusive_cpus", "").empty())
            return true;
        return false;
      },
      20s))
      << "the adopting agent's status does not show the exclusive CPUs it holds";
  // Its own stop with `restore` (the default) undoes what it adopted.
  s.SignalAgent(SIGTERM, 20000);
  s.StartAgent("enforce");
  ASSERT_TRUE(s.WaitFor([&] { return PortAccepts(s.port()); }, 60s));
  int status = s.SignalAgent(SIGTERM, 20000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  s.ExpectRestored();
  CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "restore", "--state-dir", s.state_dir()});
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "nothing to restore")) << r.out;
}

// kill -9 or SIGTERM at each step of a handover: during the stop, right after it, and at several
// moments of the next agent's adoption. Whatever the journal is left as, `restore` puts back the
// machine as it was before any agent ran.
TEST(CliPrivileged, KillAtEveryStepOfAHandoverThenRestoreIsComplete) {
  SW_REQUIRE_PRIVILEGED();
  struct Step {
    const char* name;
    bool during_stop;  // signal the handing-over agent itself, else the adopting one
    int sig;
    std::chrono::milliseconds after;  // after SIGTERM (stop) / after the exec (adoption)
  };
  const Step steps[] = {
      {"kill -9 during the stop", true, SIGKILL, 0ms},
      {"kill -9 during the stop (late)", true, SIGKILL, 20ms},
      {"kill -9 while adopting (at once)", false, SIGKILL, 0ms},
      {"kill -9 while adopting", false, SIGKILL, 80ms},
      {"kill -9 after adopting", false, SIGKILL, 600ms},
      {"SIGTERM while adopting", false, SIGTERM, 80ms},
  };
  for (const Step& step : steps) {
    SCOPED_TRACE(step.name);
    Scenario s(std::string("hk") + std::to_string(&step - steps));
    ASSERT_TRUE(SchedwardenCpusets(s.cpuset_root()).empty());
    if (step.during_stop) {
      s.StartAgent("enforce", {"--on-stop", "handover"});
      // Start-up first (10-20 s in a TCG VM on a busy host), as in PromoteThenHandOver.
      ASSERT_TRUE(s.WaitFor([&] { return PortAccepts(s.port()); }, 60s));
      ASSERT_TRUE(s.WaitFor([&] { return s.Promoted() && s.Exclusive() && s.Demoted(); }, 60s));
      s.SignalAgent(SIGTERM, 0);  // does not wait
      std::this_thread::sleep_for(step.after);
      s.SignalAgent(SIGKILL, 10000);
    } else {
      PromoteThenHandOver(s);
      if (HasFatalFailure()) return;
      s.StartAgent("enforce", {"--on-stop", "handover"});
      std::this_thread::sleep_for(step.after);
      ASSERT_NE(s.SignalAgent(step.sig, 20000), -1);
    }
    CommandResult r = RunCommand({SCHEDWARDEN_BINARY, "restore", "--state-dir", s.state_dir()});
    EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
    s.ExpectRestored();
  }
}

// A kernel without BTF: `run` exits 3 (kExitNoKernelSupport) naming the missing file before it
// changes anything. The child hides BTF under an empty tmpfs over /sys/kernel/btf in its own
// mount namespace (gone with it), then execs the agent: no unshare(1) or shell needed (VM tier).
TEST(CliPrivileged, RunWithoutKernelBtfExitsThreeNamingIt) {
  SW_REQUIRE_PRIVILEGED();
  TempTree tmp;
  const std::string state_dir = tmp.Path("state"), err_file = tmp.Path("stderr");
  const std::string listen = "127.0.0.1:" + std::to_string(FreePort());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("fuzz-nobtf", "/sys/kernel/btf", "tmpfs", 0, nullptr) != 0)
      _exit(100);
    execl(SCHEDWARDEN_BINARY, SCHEDWARDEN_BINARY, "run", "--mode", "observe", "--listen",
          listen.c_str(), "--state-dir", state_dir.c_str(), static_cast<char*>(nullptr));
    _exit(101);
  }
  int status = 0;
  for (int i = 0; i < 300 && waitpid(pid, &status, WNOHANG) == 0; i++)
    std::this_thread::sleep_for(100ms);
  if (waitpid(pid, &status, WNOHANG) == 0) {  // still running: it did not notice
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  std::string err = ReadFile(err_file).value_or("");
  ASSERT_TRUE(WIFEXITED(status)) << err;
  ASSERT_LT(WEXITSTATUS(status), 100) << "setting up the namespace failed: " << err;
  EXPECT_EQ(WEXITSTATUS(status), 3) << err;
  EXPECT_TRUE(Contains(err, "kernel BTF not found at /sys/kernel/btf/vmlinux")) << err;
  EXPECT_TRUE(Contains(err, "CONFIG_DEBUG_INFO_BTF=y")) << err;
  EXPECT_FALSE(PathExists(state_dir)) << "state dir created before the BTF check";
  EXPECT_TRUE(PathExists("/sys/kernel/btf/vmlinux")) << "the tmpfs leaked out of the namespace";
}

}  // namespace
}  // namespace sw::test

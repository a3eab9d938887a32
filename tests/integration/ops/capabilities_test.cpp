// The agent runs as a non-root user holding exactly the capabilities of
// userspace/common/capabilities.h (ambient, via capsh), attaches its BPF programs and serves
// /metrics; with one of them missing it refuses to start and names it. Ground truth: the kernel's
// /proc/<pid>/status (Uid, CapEff) and events counted by BPF in /metrics.
#include "common/capabilities.h"

#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "../cli/cli_helpers.h"
#include "common/fs.h"
#include "http_get.h"
#include "support/privileged.h"
#include "support/process.h"

namespace sw::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr uid_t kNobody = 65534;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(c));
  return s;
}

// The needed capabilities this process may hand on (in its bounding set); others are reported.
std::vector<std::string> GrantableCaps(std::string* not_grantable) {
  std::vector<std::string> out;
  for (const NeededCapability& c : kAgentCapabilities) {
    cap_value_t v;
    if (cap_from_name(c.name, &v) == 0 && prctl(PR_CAPBSET_READ, v, 0, 0, 0) == 1)
      out.push_back(c.name);
    else
      *not_grantable += std::string(c.name) + " ";
  }
  return out;
}

uint64_t Mask(const std::vector<std::string>& caps) {
  uint64_t m = 0;
  for (const auto& c : caps) {
    cap_value_t v;
    EXPECT_EQ(cap_from_name(c.c_str(), &v), 0) << c;
    m |= uint64_t{1} << v;
  }
  return m;
}

std::string StatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
  return "";
}

// One thread's capability sets, from /proc/<pid>/task/<tid>/status (capabilities are per thread).
struct TaskCaps {
  pid_t tid = 0;
  uint64_t eff = ~0ull, prm = ~0ull, inh = ~0ull, bnd = ~0ull, amb = ~0ull;
  int no_new_privs = -1;
};

std::vector<TaskCaps> CapsOfEveryThread(pid_t pid) {
  std::vector<TaskCaps> out;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& e : std::filesystem::directory_iterator(task_dir)) {
    TaskCaps t;
    t.tid = std::stoi(e.path().filename().string());
    std::ifstream in(e.path() / "status");
    for (std::string line; std::getline(in, line);) {
      auto hex = [&](const char* f, uint64_t* v) {
        if (line.rfind(std::string(f) + ":", 0) == 0)
          *v = std::stoull(Trim(line.substr(std::strlen(f) + 1)), nullptr, 16);
      };
      hex("CapEff", &t.eff);
      hex("CapPrm", &t.prm);
      hex("CapInh", &t.inh);
      hex("CapBnd", &t.bnd);
      hex("CapAmb", &t.amb);
      if (line.rfind("NoNewPrivs:", 0) == 0) t.no_new_privs = std::stoi(Trim(line.substr(11)));
    }
    out.push_back(t);
  }
  EXPECT_GT(out.size(), 1u) << "the HTTP server's threads should be there too";
  return out;
}

// capsh: keep the listed capabilities across the switch to nobody, as ambient ones, then exec.
std::vector<std::string> CapshArgv(const std::vector<std::string>& caps, const std::string& cmd) {
  std::string list;
  for (const auto& c : caps) list += (list.empty() ? "" : ",") + Lower(c);
  return {"/usr/sbin/capsh",
          "--caps=" + list + "+eip cap_setpcap,cap_setuid,cap_setgid+ep",
          "--keep=1",
          "--user=nobody",
          "--addamb=" + list,
          "--",
          "-c",
          cmd};
}

class NonRootAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ops-caps-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    chmod(dir_.c_str(), 0755);
    state_ = dir_ + "/state";
    mkdir(state_.c_str(), 0700);
    ASSERT_EQ(chown(state_.c_str(), kNobody, kNobody), 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, state_;
};

TEST_F(NonRootAgent, RunsWithExactlyTheNeededCapabilities) {
  SW_REQUIRE_PRIVILEGED();
  ASSERT_EQ(access("/usr/sbin/capsh", X_OK), 0) << "capsh (Debian package libcap2-bin)";
  std::string not_grantable;
  const std::vector<std::string> caps = GrantableCaps(&not_grantable);
  if (!not_grantable.empty())
    std::printf("not in this test's bounding set, so not granted: %s\n", not_grantable.c_str());
  const int port = FreePort();
  const std::string log = state_ + "/../agent.log";
  {
    std::ofstream(log).flush();  // written by nobody
    ASSERT_EQ(chown(log.c_str(), kNobody, kNobody), 0);
  }
  ChildProcess agent = ChildProcess::Exec(CapshArgv(
      caps, std::string("exec ") + SCHEDWARDEN_BINARY + " run --mode observe --listen 127.0.0.1:" +
                std::to_string(port) + " --state-dir " + state_ + " >" + log + " 2>&1"));
  auto ReadLog = [&] {
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  // BPF attached: events counted by the programs show up in /metrics.
  HttpReply m;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    m = HttpGet(port, "/metrics");
    if (m.status == 200 &&
        m.body.find("schedwarden_runq_latency_seconds_count{") != std::string::npos)
      break;
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(m.status, 200) << ReadLog();
  EXPECT_THAT(m.body, HasSubstr("schedwarden_runq_latency_seconds_count{")) << ReadLog();
  EXPECT_THAT(m.body, HasSubstr("schedwarden_build_info{"));

  // The kernel's view of the running agent: uid nobody and, once BPF is attached, none of the
  // granted capabilities left in any thread (observe mode keeps none).
  EXPECT_THAT(StatusField(agent.pid(), "Uid"),
              ::testing::MatchesRegex("\\s*65534\\s+65534\\s+65534\\s+65534"));
  for (const TaskCaps& t : CapsOfEveryThread(agent.pid())) {
    EXPECT_EQ(t.eff, 0u) << "thread " << t.tid << ", granted " << ::testing::PrintToString(caps);
    EXPECT_EQ(t.prm, 0u) << "thread " << t.tid;
    EXPECT_EQ(t.amb, 0u) << "thread " << t.tid;
    EXPECT_EQ(t.no_new_privs, 1) << "thread " << t.tid;
  }

  int status = agent.Signal(SIGTERM, 10000);
  ASSERT_NE(status, -1) << "agent did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << ReadLog();
}

TEST_F(NonRootAgent, RefusesToStartNamingAMissingCapability) {
  SW_REQUIRE_PRIVILEGED();
  std::string not_grantable;
  for (const NeededCapability& dropped : kAgentCapabilities) {
    if (!dropped.checked_at_start) continue;
    std::vector<std::string> caps;
    for (const std::string& c : GrantableCaps(&not_grantable))
      if (c != dropped.name) caps.push_back(c);
    CommandResult r = RunCommand(
        CapshArgv(caps, std::string("exec ") + SCHEDWARDEN_BINARY +
                            " run --mode observe --listen 127.0.0.1:" + std::to_string(FreePort()) +
                            " --state-dir " + state_),
        30000);
    EXPECT_EQ(r.exit_code(), 1) << dropped.name << ": " << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("not privileged (missing " + std::string(dropped.name) + ")"))
        << r.err;
  }
  EXPECT_TRUE(std::filesystem::is_empty(state_)) << "a refused start wrote to the state dir";
}

// As root: after BPF is loaded and attached every thread keeps only what its mode needs, in the
// bounding set too, with no_new_privs; the agent still serves and stops cleanly.
class RootAgent : public NonRootAgent {
 protected:
  void RunAndCheck(const std::string& mode, uint64_t want) {
    SW_REQUIRE_PRIVILEGED();
    chown(state_.c_str(), 0, 0);
    const int port = FreePort();
    const std::string log = dir_ + "/agent.log";
    ChildProcess agent =
        ChildProcess::Exec({"/bin/sh", "-c",
                            std::string("exec ") + SCHEDWARDEN_BINARY + " run --mode " + mode +
                                " --listen 127.0.0.1:" + std::to_string(port) + " --state-dir " +
                                state_ + " >" + log + " 2>&1"});
    auto ReadLog = [&] {
      std::ifstream in(log);
      std::stringstream ss;
      ss << in.rdbuf();
      return ss.str();
    };
    HttpReply m;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      m = HttpGet(port, "/metrics");
      if (m.status == 200 &&
          m.body.find("schedwarden_runq_latency_seconds_count{") != std::string::npos)
        break;
      std::this_thread::sleep_for(200ms);
    }
    ASSERT_EQ(m.status, 200) << ReadLog();
    EXPECT_EQ(HttpGet(port, "/readyz").status, 200) << ReadLog();
    for (const TaskCaps& t : CapsOfEveryThread(agent.pid())) {
      EXPECT_EQ(t.eff, want) << mode << " thread " << t.tid << std::hex << ": 0x" << t.eff;
      EXPECT_EQ(t.prm, want) << mode << " thread " << t.tid << std::hex << ": 0x" << t.prm;
      EXPECT_EQ(t.bnd, want) << mode << " thread " << t.tid << std::hex << ": 0x" << t.bnd;
      EXPECT_EQ(t.inh, 0u) << mode << " thread " << t.tid;
      EXPECT_EQ(t.amb, 0u) << mode << " thread " << t.tid;
      EXPECT_EQ(t.no_new_privs, 1) << mode << " thread " << t.tid;
    }
    EXPECT_THAT(ReadLog(), HasSubstr("capabilities kept after start-up: "));
    int status = agent.Signal(SIGTERM, 10000);
    ASSERT_NE(status, -1) << "agent did not stop on SIGTERM";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << ReadLog();
  }
};

TEST_F(RootAgent, ObserveKeepsNoCapabilityAfterLoadingBpf) { RunAndCheck("observe", 0); }

TEST_F(RootAgent, DryRunKeepsNoCapabilityAfterLoadingBpf) { RunAndCheck("dry-run", 0); }

// CAP_SYS_NICE: other users' policy, nice and affinity; CAP_DAC_OVERRIDE: cgroup files of
// subtrees delegated to other users. Nothing else (no CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON).
TEST_F(RootAgent, EnforceKeepsOnlySysNiceAndDacOverride) {
  RunAndCheck("enforce", (uint64_t{1} << CAP_SYS_NICE) | (uint64_t{1} << CAP_DAC_OVERRIDE));
}

}  // namespace
}  // namespace sw::test

// Helper for the privileged enforcement tests.
//   spin N                               N threads burning CPU until killed
//   crash STATE_DIR LC_DIR BE_DIR CPUS K promote LC_DIR to CPUS (a list), demote BE_DIR, and stop
//   forever
//                                        right before the K-th sched_setattr (its intent is
//                                        journaled, not applied), or with K=0 right before
//                                        cpu.idle is written (it and the weight are journaled);
//                                        prints "PAUSED" when there.
//   churn STATE_DIR LC_CG BE_CG SEED HOLD  the agent's enforcement path in a loop for the crash
//                                        loop test: start-up reconcile (prints "RECONCILED";
//                                        HOLD=1 then waits to be killed), then promote LC_CG,
//                                        demote BE_CG, sweep, release, revert, promote, demote,
//                                        shutdown, over and over, with seeded random pauses of
//                                        0-2 ms between steps so a kill lands anywhere.
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cgroup/layout.h"
#include "common/cpulist.h"
#include "enforce/best_effort_actuator.h"
#include "enforce/enforcer.h"
#include "enforce/exclusive_actuator.h"

namespace {

std::atomic<unsigned long> sink{0};

[[noreturn]] void Spin() {
  for (;;) sink.fetch_add(1, std::memory_order_relaxed);
}

[[noreturn]] void Pause() {
  std::printf("PAUSED\n");
  std::fflush(stdout);
  for (;;) pause();  // waiting for SIGKILL
}

// Forwards to the real writer and freezes before the K-th SetSchedAttr (K=0: before cpu.idle).
class PausingWriter final : public sw::SystemWriter {
 public:
  explicit PausingWriter(int pause_at) : pause_at_(pause_at) {}
  sw::Result<void> WriteFile(const std::string& p, const std::string& v) override {
    if (pause_at_ == 0 && p.size() >= 9 && p.compare(p.size() - 9, 9, "/cpu.idle") == 0) Pause();
    return real_.WriteFile(p, v);
  }
  sw::Result<void> MoveTask(const std::string& f, pid_t id) override {
    return real_.MoveTask(f, id);
  }
  sw::Result<void> MakeDir(const std::string& p) override { return real_.MakeDir(p); }
  sw::Result<void> RemoveDir(const std::string& p) override { return real_.RemoveDir(p); }
  sw::Result<sw::SchedAttr> GetSchedAttr(pid_t t) override { return real_.GetSchedAttr(t); }
  sw::Result<sw::CpuSet> GetAffinity(pid_t t) override { return real_.GetAffinity(t); }
  sw::Result<void> SetAffinity(pid_t t, const sw::CpuSet& cpus) override {
    return real_.SetAffinity(t, cpus);
  }
  sw::Result<void> SetSchedAttr(pid_t t, const sw::SchedAttr& a) override {
    if (++setattr_calls_ == pause_at_) Pause();
    return real_.SetSchedAttr(t, a);
  }

 private:
  sw::RealSystemWriter real_;
  int pause_at_;
  int setattr_calls_ = 0;
};

int Crash(char** argv) {
  const std::string state = argv[2], lc = argv[3], be = argv[4];
  auto cpus = sw::ParseCpuList(argv[5]);
  if (!cpus) {
    std::fprintf(stderr, "%s\n", cpus.error().message.c_str());
    return 2;
  }
  auto layout = sw::DetectCgroupMounts();
  if (!layout) {
    std::fprintf(stderr, "%s\n", layout.error().message.c_str());
    return 2;
  }
  auto cpuset = sw::CpusetMount(*layout);
  if (!cpuset) {
    std::fprintf(stderr, "%s\n", cpuset.error().message.c_str());
    return 2;
  }
  PausingWriter w(std::atoi(argv[6]));
  auto journal = sw::Journal::Open(state);
  if (!journal) {
    std::fprintf(stderr, "%s\n", journal.error().message.c_str());
    return 2;
  }
  sw::SafetyRails rails;
  sw::ExclusiveActuatorConfig ec;
  ec.version = cpuset->version;
  ec.cpuset_root = cpuset->path;
  ec.workload_root = layout->cpu.path;
  sw::ExclusiveCoreActuator ex(ec, w, *journal, rails);
  if (auto r = ex.Init(); !r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return 2;
  }
  if (auto r = ex.Promote({"lc", lc}, *cpus); !r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return 2;
  }
  sw::BestEffortActuatorConfig bc;
  bc.cgroup_root = layout->cpu.path;
  sw::BestEffortActuator be_act(bc, w, *journal, rails);
  if (auto r = be_act.Demote({"be", be}); !r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return 2;
  }
  std::printf("NOT PAUSED\n");
  std::fflush(stdout);
  for (;;) pause();
}

// Each step's failure is printed, not fatal: the loop goes on until the test kills it.
int Churn(char** argv) {
  const std::string state = argv[2], lc = argv[3], be = argv[4];
  std::mt19937 rng(static_cast<unsigned>(std::strtoul(argv[5], nullptr, 10)));
  sw::RealSystemWriter w;
  sw::RestoreOptions opts;
  opts.rails.agent_pid = getpid();
  // One letter before each step, so the test knows where its kill landed.
  auto step = [](char c) {
    std::putchar(c);
    std::fflush(stdout);
  };
  step('C');
  auto rec = sw::ReconcileAtStartup(state, w, opts);
  if (!rec || !rec->Complete()) {
    std::fprintf(stderr, "reconcile: %s\n",
                 rec ? rec->Summary().c_str() : rec.error().message.c_str());
    return 3;
  }
  std::printf("RECONCILED\n");
  step('E');  // Enforcer::Create
  std::fflush(stdout);
  if (std::strcmp(argv[6], "1") == 0)
    for (;;) pause();
  sw::EnforcerConfig cfg;
  cfg.state_dir = state;
  cfg.rails.agent_pid = getpid();
  auto e = sw::Enforcer::Create(cfg, w);
  if (!e) {
    std::fprintf(stderr, "create: %s\n", e.error().message.c_str());
    return 3;
  }
  auto nap = [&] { std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000)); };
  auto say = [](const char* step, const std::string& err) {
    if (!err.empty()) std::fprintf(stderr, "%s: %s\n", step, err.c_str());
  };
  for (;;) {
    for (int twice = 0; twice < 2; twice++) {
      step('P');
      auto p = (*e)->Promote("web", lc, 1);
      say("promote", p ? "" : p.error().message);
      nap();
      step('D');
      auto d = (*e)->Demote("batch", be);
      say("demote", d ? "" : d.error().message);
      nap();
      step('S');
      auto s = (*e)->Sweep();
      say("sweep", s ? "" : s.error().message);
      nap();
      if (twice == 0) {
        step('R');
        auto r = (*e)->Release("web");
        say("release", !r ? r.error().message : r->failed.empty() ? "" : r->failed.front());
        nap();
        step('V');
        auto v = (*e)->Revert("batch");
        say("revert", !v ? v.error().message : v->failed.empty() ? "" : v->failed.front());
        nap();
      }
    }
    step('X');
    sw::RestoreReport r = (*e)->Shutdown();
    if (!r.Complete()) say("shutdown", r.Summary());
    nap();
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "spin") == 0) {
    int n = std::atoi(argv[2]);
    std::vector<std::thread> threads;
    for (int i = 1; i < n; i++) threads.emplace_back(Spin);
    Spin();
  }
  if (argc == 7 && std::strcmp(argv[1], "crash") == 0) return Crash(argv);
  if (argc == 7 && std::strcmp(argv[1], "churn") == 0) return Churn(argv);
  std::fprintf(
      stderr, "usage: %s spin N | crash STATE LC_DIR BE_DIR CPUS K | churn STATE LC BE SEED HOLD\n",
      argv[0]);
  return 64;
}

// Privileged: demotion and kubelet's rewrites on the real kernel, in a kubelet-like cgroupfs tree
// (<test>/kubepods/{besteffort,burstable}/pod*/ctr) with kubelet's weights. Ground truth is the
// cgroupfs files and the threads' policies read back from the kernel. Cgroups and processes are
// removed by destructors, also when an assertion fails.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <stdexcept>

#include "enforce/enforcer.h"
#include "policy/ladder.h"
#include "support/cgroup_layout.h"
#include "support/privileged.h"
#include "support/process.h"
#include "support/scoped_cgroups.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

using test::MachineCgroups;

MachineCgroups Machine() {
  auto m = MachineCgroups::Detect();
  if (!m.ok()) throw std::runtime_error(m.error().message);
  return *m;
}

test::ChildProcess Spinner() {
  return test::ChildProcess::Fork([] {
    for (;;) {
    }
  });
}

class K8sDemote : public ::testing::Test {
 protected:
  // kubelet's weights: cpu.shares on v1; on v2 kubelet writes cpu.weight converted from them
  // (1 + (shares - 2) * 9999 / 262142): 2048 -> 79, 1024 -> 39, 2 -> 1.
  void Tree(const MachineCgroups& m, test::ScopedCgroups& cg) {
    for (const std::string& c : {top, kp, kp + "/besteffort", kp + "/burstable", hog, hog + "/ctr",
                                 victim, victim + "/ctr"})
      ASSERT_NO_FATAL_FAILURE(cg.Create(c));
    const bool v2 = m.cpu_v2();
    cg.WriteCpu(kp, m.weight_file(), v2 ? "79" : "2048");
    cg.WriteCpu(kp + "/besteffort", m.weight_file(), v2 ? "1" : "2");
    cg.WriteCpu(kp + "/burstable", m.weight_file(), v2 ? "39" : "1024");
    cg.WriteCpu(hog, m.weight_file(), v2 ? "1" : "2");
  }
  std::unique_ptr<Enforcer> Make(const MachineCgroups& m, SystemWriter& w) {
    EnforcerConfig ec;
    ec.state_dir = state.Path("state");
    ec.mounts = m.mounts();
    auto e = Enforcer::Create(ec, w);
    EXPECT_TRUE(e.ok()) << e.error().message;
    return e.ok() ? std::move(*e) : nullptr;
  }
  const std::string top = "/sw-k8s-demote-" + std::to_string(getpid());
  const std::string kp = top + "/kubepods";
  const std::string hog = kp + "/besteffort/podh", victim = kp + "/burstable/podv";
  test::TempTree state;
};

// kubelet clears cpu.idle on a pod the agent demoted and puts its weight back: the next Sweep
// reports it once, the agent never writes either file again (not at Sweep, not at Shutdown),
// and the threads are still restored.
TEST_F(K8sDemote, KubeletRewriteIsNoticedOnceAndNeverFought) {
  SW_REQUIRE_PRIVILEGED();
  MachineCgroups m = Machine();
  test::ScopedCgroups cg(m);
  ASSERT_NO_FATAL_FAILURE(Tree(m, cg));
  if (cg.ReadCpu(hog, "cpu.idle") == "?") GTEST_SKIP() << "no cpu.idle (kernel < 5.15)";
  test::ChildProcess spin = Spinner();
  cg.Join(hog + "/ctr", spin.pid());
  RealSystemWriter w;
  auto e = Make(m, w);
  ASSERT_TRUE(e);
  // The agent's choice for this pair: kubelet's besteffort level separates them: threads only.
  const DemotionLevel level = DemotionLevelFor(victim, hog, {});
  EXPECT_EQ(level.idle_cgroup, "");
  ASSERT_TRUE(e->Demote("hog", hog, level.idle_cgroup).ok());
  EXPECT_EQ(cg.ReadCpu(kp + "/besteffort", "cpu.idle"), "0");
  EXPECT_EQ(cg.ReadCpu(hog, "cpu.idle"), "0");
  EXPECT_EQ(sched_getscheduler(spin.pid()), SCHED_IDLE);
  ASSERT_TRUE(e->Revert("hog").ok());
  EXPECT_EQ(sched_getscheduler(spin.pid()), SCHED_OTHER);

  // The pod level itself (cpu.idle there), then kubelet's rewrite behind the agent's back.
  ASSERT_TRUE(e->Demote("hog", hog).ok());
  ASSERT_EQ(cg.ReadCpu(hog, "cpu.idle"), "1");
  ASSERT_TRUE(e->Sweep().ok());
  EXPECT_TRUE(e->TakeDrift().empty());
  const std::string kubelet_weight = m.cpu_v2() ? "2" : "4";
  cg.WriteCpu(hog, "cpu.idle", "0");                  // the kernel resets the weight to its default
  cg.WriteCpu(hog, m.weight_file(), kubelet_weight);  // and kubelet writes its own
  ASSERT_TRUE(e->Sweep().ok());
  auto d = e->TakeDrift();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, "cpu.idle");
  EXPECT_EQ(d[0].found, "0");
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(e->Sweep().ok());
    EXPECT_TRUE(e->TakeDrift().empty());  // once, and not fought: the file keeps kubelet's value
    EXPECT_EQ(cg.ReadCpu(hog, "cpu.idle"), "0");
  }
  RestoreReport r = e->Shutdown();
  EXPECT_TRUE(r.Complete()) << r.Summary();
  EXPECT_EQ(cg.ReadCpu(hog, "cpu.idle"), "0");
  EXPECT_EQ(cg.ReadCpu(hog, m.weight_file()), kubelet_weight);
  EXPECT_EQ(sched_getscheduler(spin.pid()), SCHED_OTHER);
  spin.Signal(SIGKILL, 2000);
}

}  // namespace
}  // namespace sw

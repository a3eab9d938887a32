#include "enforce/safety.h"

#include <gtest/gtest.h>

#include "fake_machine.h"
#include "support/recording_writer.h"
#include "support/temp_tree.h"

namespace sw {
namespace {

TEST(SafetyRails, VetoesKernelThreadsPid1AndTheAgent) {
  test::FakeMachine m;
  m.AddTask(1, {});
  m.AddTask(2, {.ppid = 0, .kthread = true});
  m.AddTask(10, {.ppid = 2, .kthread = true});
  m.AddTask(300, {});
  m.AddTask(301, {.tgid = 300});
  m.AddTask(400, {});
  SafetyRails r;
  r.agent_pid = 300;
  using K = TaskVerdict::Kind;
  EXPECT_EQ(r.TaskVeto(m.proc(), 1).kind, K::kProtected);
  EXPECT_STREQ(r.TaskVeto(m.proc(), 1).reason, "PID 1");
  EXPECT_STREQ(r.TaskVeto(m.proc(), 2).reason, "kernel thread");
  EXPECT_EQ(r.TaskVeto(m.proc(), 10).kind, K::kProtected);
  EXPECT_STREQ(r.TaskVeto(m.proc(), 10).reason, "kernel thread");
  EXPECT_STREQ(r.TaskVeto(m.proc(), 301).reason, "the agent itself");
  EXPECT_TRUE(r.TaskVeto(m.proc(), 400).allowed());
  EXPECT_TRUE(r.TaskVeto(m.proc(), 999).gone());
  EXPECT_FALSE(r.TaskVeto(m.proc(), 999).allowed());
  r.allowed_cgroups = {"/kubepods"};
  EXPECT_TRUE(r.CgroupAllowed("/kubepods"));
  EXPECT_TRUE(r.CgroupAllowed("/kubepods/pod1"));
  EXPECT_FALSE(r.CgroupAllowed("/kubepods2"));
  EXPECT_FALSE(r.CgroupAllowed("/"));
}

// kubelet's QoS-level cgroups and their files, both drivers, under any hierarchy root; pod
// cgroups below them and cpuset.cpus.exclusive (needed for nested partitions) stay allowed.
TEST(KubeletGuard, VetoesKubeletQosLevelCgroupsAndTheirFiles) {
  for (const char* p :
       {"/sys/fs/cgroup/kubepods", "/sys/fs/cgroup/cpu/kubepods/besteffort/cpu.shares",
        "/sys/fs/cgroup/kubepods/burstable/cpu.weight", "/sys/fs/cgroup/kubepods/cgroup.procs",
        "/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/cpu.idle",
        "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice",
        "/sys/fs/cgroup/kubepods.slice/cpuset.cpus"})
    EXPECT_NE(KubeletCgroupVeto(p), "") << p;
  for (const char* p : {"/sys/fs/cgroup/kubepods/besteffort/pod1/cpu.idle",
                        "/sys/fs/cgroup/kubepods/pod2/cpuset.cpus.partition",
                        "/sys/fs/cgroup/kubepods.slice/kubepods-pod3.slice/cpu.weight",
                        "/sys/fs/cgroup/kubepods/cpuset.cpus.exclusive",
                        "/sys/fs/cgroup/lc/cpu.idle", "/sys/fs/cgroup/cgroup.procs"})
    EXPECT_EQ(KubeletCgroupVeto(p), "") << p;
}

TEST(KubeletGuard, RefusesWithTheReasonAndPassesTheRestThrough) {
  test::TempTree t;
  t.Write("cg/kubepods/burstable/cpu.weight", "100\n");
  t.Write("cg/kubepods/burstable/pod1/cpu.weight", "100\n");
  RecordingWriter inner;
  KubeletGuardWriter guard(inner);
  auto w = guard.WriteFile(t.Path("cg/kubepods/burstable/cpu.weight"), "1");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, EPERM);
  EXPECT_EQ(w.error().message,
            "refusing to write " + t.Path("cg/kubepods/burstable/cpu.weight") +
                ": a file of a kubelet QoS-level cgroup (kubelet owns cpu.weight "
                "there and rewrites it; the agent acts on pod cgroups below it)");
  EXPECT_FALSE(guard.MoveTask(t.Path("cg/kubepods/besteffort/cgroup.procs"), 42).ok());
  EXPECT_FALSE(guard.RemoveDir(t.Path("cg/kubepods/besteffort")).ok());
  EXPECT_FALSE(guard.MakeDir(t.Path("cg/kubepods.slice")).ok());
  EXPECT_TRUE(inner.ops.empty());  // nothing reached the machine
  EXPECT_TRUE(guard.WriteFile(t.Path("cg/kubepods/burstable/pod1/cpu.weight"), "1").ok());
  EXPECT_EQ(inner.ops, std::vector<std::string>{
                           "write " + t.Path("cg/kubepods/burstable/pod1/cpu.weight") + " 1"});
  EXPECT_EQ(t.Read("cg/kubepods/burstable/cpu.weight"), "100\n");
}

}  // namespace
}  // namespace sw

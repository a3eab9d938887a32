#include "enforce/safety.h"

#include <gtest/gtest.h>

#include "fake_machine.h"

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

}  // namespace
}  // namespace sw

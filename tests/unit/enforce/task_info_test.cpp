#include "enforce/task_info.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/cpulist.h"
#include "common/fs.h"
#include "enforce/safety.h"
#include "fake_machine.h"

namespace sw {
namespace {

TEST(TaskInfo, ParsesStatWithTrickyComm) {
  auto st =
      ParseTaskStat("42 (a) b (c) S 7 42 42 0 -1 2097216 0 0 0 0 0 0 0 0 20 0 1 0 12345 0\n", 42);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->ppid, 7);
  EXPECT_TRUE(st->IsKernelThread());
  EXPECT_EQ(st->start_time, 12345u);
  EXPECT_EQ(st->last_cpu, -1);  // too short to hold field 39
  EXPECT_FALSE(ParseTaskStat("42 (x) S 1 2", 42).ok());
}

TEST(TaskInfo, ReadsTheRealSelf) {
  auto st = ReadTaskStat("/proc", getpid());
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->IsKernelThread());
  EXPECT_EQ(st->ppid, getppid());
  EXPECT_EQ(*ReadTgid("/proc", getpid()), getpid());
  EXPECT_TRUE(SameTask("/proc", getpid(), st->start_time));
  EXPECT_FALSE(SameTask("/proc", getpid(), st->start_time + 1));
  // Field 39, the CPU it last ran on: one of the online CPUs.
  auto online = ParseCpuList(*ReadLine("/sys/devices/system/cpu/online"));
  ASSERT_TRUE(online.ok());
  EXPECT_TRUE(online->count(st->last_cpu)) << st->last_cpu;
}

TEST(TaskInfo, CgroupMembershipAndThreads) {
  test::FakeMachine m;
  m.MakeCpuCgroup("/lc");
  m.MakeCpuCgroup("/lc/inner");
  m.AddTask(200, {.cpu_cg = "/lc"});
  m.AddTask(201, {.tgid = 200, .cpu_cg = "/lc/inner"});
  m.AddTask(300, {});
  EXPECT_EQ(*ReadTaskCgroup(m.proc(), 201, "cpu"), "/lc/inner");
  EXPECT_EQ(*ReadTaskCgroup(m.proc(), 201, "cpuset"), "/");
  EXPECT_EQ(*ReadTaskCgroup(m.proc(), 201, ""), "/");
  EXPECT_EQ(*ListCgroupThreads(m.cpu() + "/lc", m.proc(), true), (std::vector<pid_t>{200, 201}));
  EXPECT_EQ(*ListCgroupThreads(m.cpu() + "/lc", m.proc(), false), (std::vector<pid_t>{200}));
  auto gone = ListCgroupThreads(m.cpu() + "/nope", m.proc(), true);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ENOENT);
}

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

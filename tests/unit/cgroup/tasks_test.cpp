#include "cgroup/tasks.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/cpulist.h"
#include "common/fs.h"
#include "support/temp_tree.h"

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

// A v1 cpu hierarchy and /proc as the kernel lays them out: tasks files list threads,
// cgroup.procs processes, /proc/<pid>/task/<tid> every thread of a process.
class FakeTasks {
 public:
  std::string proc() const { return t.Path("proc"); }
  std::string cpu() const { return t.Path("cpu"); }
  void AddThread(pid_t tgid, pid_t tid, const std::string& cpu_cg, const std::string& comm) {
    const std::string d = "proc/" + std::to_string(tid);
    t.Write(d + "/stat", std::to_string(tid) + " (" + comm + ") S 1 1 1 0 -1 4194560 0 0 0 0 0 " +
                             "0 0 0 20 0 1 0 " + std::to_string(1000 + tid) + " 0 0\n");
    t.Write(d + "/status", "Name:\t" + comm + "\nTgid:\t" + std::to_string(tgid) + "\n");
    t.Write(d + "/cgroup", "5:cpuset:/\n4:cpu,cpuacct:" + cpu_cg + "\n0::/\n");
    t.Write(d + "/comm", comm + "\n");
    t.MakeDir("proc/" + std::to_string(tgid) + "/task/" + std::to_string(tid));
    Append("cpu" + cpu_cg + "/tasks", tid);
    if (tid == tgid) Append("cpu" + cpu_cg + "/cgroup.procs", tid);
  }
  test::TempTree t;

 private:
  void Append(const std::string& rel, pid_t id) {
    const std::string p = t.Path(rel);
    t.Write(rel, (PathExists(p) ? t.Read(rel) : "") + std::to_string(id) + "\n");
  }
};

TEST(TaskInfo, CgroupMembershipAndThreads) {
  FakeTasks m;
  m.t.MakeDir("cpu/lc/inner");
  m.AddThread(200, 200, "/lc", "web");
  m.AddThread(200, 201, "/lc/inner", "web");
  m.AddThread(300, 300, "/", "other");
  EXPECT_EQ(*ReadTaskCgroup(m.proc(), 201, "cpu"), "/lc/inner");
  EXPECT_EQ(*ReadTaskCgroup(m.proc(), 201, "cpuset"), "/");
  EXPECT_EQ(*ReadTaskCgroup(m.proc(), 201, ""), "/");
  EXPECT_EQ(*ReadTgid(m.proc(), 201), 200);
  EXPECT_EQ(ReadTaskStat(m.proc(), 201)->start_time, 1201u);
  EXPECT_EQ(*ListCgroupThreads(m.cpu() + "/lc", m.proc(), true), (std::vector<pid_t>{200, 201}));
  EXPECT_EQ(*ListCgroupThreads(m.cpu() + "/lc", m.proc(), false), (std::vector<pid_t>{200}));
  EXPECT_EQ(ListAllThreads(m.proc()), (std::vector<pid_t>{200, 201, 300}));
  EXPECT_EQ(ListChildCgroups(m.cpu() + "/lc"), (std::vector<std::string>{m.cpu() + "/lc/inner"}));
  auto gone = ListCgroupThreads(m.cpu() + "/nope", m.proc(), true);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ENOENT);
}

TEST(TaskInfo, ProcessNamesOfACgroupTree) {
  FakeTasks m;
  m.t.MakeDir("cpu/web/worker");
  m.AddThread(100, 100, "/web", "nginx");
  m.AddThread(101, 101, "/web", "nginx");
  m.AddThread(102, 102, "/web/worker", "php-fpm");
  m.AddThread(103, 103, "/other", "postgres");
  m.t.Write("cpu/web/worker/cgroup.procs", "102\n999\n");  // 999 exited: no /proc entry
  EXPECT_EQ(ListProcessNames(m.cpu() + "/web", m.proc(), 100),
            (std::vector<std::string>{"nginx", "php-fpm"}));
  EXPECT_EQ(ListProcessNames(m.cpu() + "/web", m.proc(), 1), (std::vector<std::string>{"nginx"}));
  EXPECT_TRUE(ListProcessNames(m.cpu() + "/gone", m.proc(), 100).empty());
}

}  // namespace
}  // namespace sw

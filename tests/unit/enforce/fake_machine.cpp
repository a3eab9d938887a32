#include "fake_machine.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <tuple>

#include "cgroup/tasks.h"
#include "common/fs.h"

namespace sw::test {

FakeMachine::FakeMachine() {
  t.Write("cpuset/cpuset.cpus", "0-1\n");
  t.Write("cpuset/cpuset.mems", "0\n");
  t.Write("cpuset/tasks", "");
  t.Write("cpu/tasks", "");
  t.MakeDir("proc");
  w.on_move = [this](const std::string& file, pid_t tid) {
    std::string dir = file.substr(0, file.find_last_of('/'));
    std::string rel = dir.size() <= cpuset().size() ? "/" : dir.substr(cpuset().size());
    auto it = tasks_.find(tid);
    if (it == tasks_.end()) return;
    it->second.cpuset_cg = rel;
    WriteProc(tid);
    Sync();
    Reset(tid);
  };
  w.on_set_affinity = [this](pid_t tid, const CpuSet& want) -> Result<CpuSet> {
    CpuSet got;
    for (int c : CpusOf(tid))
      if (want.count(c)) got.insert(c);
    if (got.empty()) return Error{EINVAL, "Invalid argument"};
    user_mask_[tid] = want;
    return got;
  };
  w.on_write = [this](const std::string& path, const std::string& value) -> Result<void> {
    const std::string dir = path.substr(0, path.find_last_of('/'));
    const std::string file = path.substr(path.find_last_of('/') + 1);
    const std::string idle = JoinPath(dir, "cpu.idle");
    const bool is_idle = PathExists(idle) && Trim(ReadLine(idle).value_or("")) == "1";
    if (file == "cpuset.cpus" || file == "cpuset.cpus.partition" ||
        file == "cpuset.cpus.exclusive") {
      if (dir.rfind(cpuset(), 0) == 0 && file == "cpuset.cpus")
        if (auto r = CheckV1Cpus(dir, value); !r) return r;
      t.Write(path.substr(t.root().size()), value + "\n");  // the kernel's view of it, now
      if (dir.rfind(cg(), 0) == 0) {
        RecomputeV2();
      } else {
        std::string rel = dir.size() <= cpuset().size() ? "/" : dir.substr(cpuset().size());
        for (const auto& [tid, k] : tasks_)
          if (k.cpuset_cg == rel) Reset(tid);
      }
      return Ok();
    }
    if (file == "cpu.shares" || file == "cpu.weight" || file == "cpu.weight.nice") {
      if (is_idle) return Error{EINVAL, "Invalid argument"};
      return Ok();
    }
    if (file != "cpu.idle" || (Trim(value) == "1") == is_idle) return Ok();  // no transition
    for (const auto& [weight, dfl, idle_weight] :
         {std::tuple<std::string, std::string, std::string>{"cpu.shares", "1024", "3"},
          {"cpu.weight", "100", v2_idle_weight}}) {
      const std::string wp = JoinPath(dir, weight);
      if (PathExists(wp)) t.Write(wp.substr(t.root().size()), (is_idle ? dfl : idle_weight) + "\n");
    }
    return Ok();
  };
}

Result<void> FakeMachine::CheckV1Cpus(const std::string& dir, const std::string& value) const {
  auto read = [](const std::string& d) {
    return ParseCpuList(Trim(ReadLine(JoinPath(d, "cpuset.cpus")).value_or(""))).value_or(CpuSet{});
  };
  auto want = ParseCpuList(Trim(value));
  if (!want) return Error{EINVAL, "Invalid argument"};
  auto subset = [](const CpuSet& a, const CpuSet& b) {
    return std::all_of(a.begin(), a.end(), [&](int c) { return b.count(c) > 0; });
  };
  // kernel/cgroup/cpuset-v1.c validate_change(): within the parent, around every child.
  if (dir != cpuset() && !subset(*want, read(dir.substr(0, dir.find_last_of('/')))))
    return Error{EINVAL, "Invalid argument (not within the parent's cpus)"};
  for (const std::string& n : ListDir(dir).value_or(std::vector<std::string>{}))
    if (PathExists(JoinPath(JoinPath(dir, n), "cpuset.cpus")) &&
        !subset(read(JoinPath(dir, n)), *want))
      return Error{EBUSY, "Device or resource busy (a child has other cpus)"};
  std::string rel = dir.size() <= cpuset().size() ? "/" : dir.substr(cpuset().size());
  if (want->empty())
    for (const auto& [tid, k] : tasks_)
      if (k.cpuset_cg == rel) return Error{ENOSPC, "No space left on device"};
  return Ok();
}

void FakeMachine::WriteProc(pid_t tid) {
  const Task& k = tasks_.at(tid);
  std::string d = "proc/" + std::to_string(tid);
  uint64_t flags = k.kthread ? 0x00208040 : 0x00400100;
  t.Write(d + "/stat", std::to_string(tid) + " (fake (x) y) S " + std::to_string(k.ppid) +
                           " 1 1 0 -1 " + std::to_string(flags) + " 0 0 0 0 0 0 0 0 20 0 1 0 " +
                           std::to_string(k.start) + " 0 0\n");
  t.Write(d + "/status", "Name:\tfake\nTgid:\t" + std::to_string(k.tgid) + "\nPid:\t" +
                             std::to_string(tid) + "\n");
  t.Write(d + "/cgroup",
          "5:cpuset:" + k.cpuset_cg + "\n4:cpu,cpuacct:" + k.cpu_cg + "\n0::" + k.v2_cg + "\n");
  t.MakeDir("proc/" + std::to_string(k.tgid) + "/task/" + std::to_string(tid));
}

void FakeMachine::AddTask(pid_t tid, Task task, SchedAttr attr) {
  if (task.tgid == 0) task.tgid = tid;
  if (task.start == 0) task.start = 1000 + tid;
  tasks_[tid] = task;
  if (!task.kthread) w.sched[tid] = attr;
  WriteProc(tid);
  Sync();
  if (!task.kthread) w.affinity[tid] = CpusOf(tid);
}

void FakeMachine::Pin(pid_t tid, const CpuSet& cpus) {
  w.affinity[tid] = cpus;
  user_mask_[tid] = cpus;
}

CpuSet FakeMachine::CpusOf(pid_t tid) const {
  const Task& k = tasks_.at(tid);
  std::string file =
      PathExists(cg())
          ? JoinPath(cg() + (k.v2_cg == "/" ? "" : k.v2_cg), "cpuset.cpus.effective")
          : JoinPath(cpuset() + (k.cpuset_cg == "/" ? "" : k.cpuset_cg), "cpuset.cpus");
  return ParseCpuList(Trim(ReadLine(file).value_or(""))).value_or(CpuSet{});
}

void FakeMachine::Reset(pid_t tid) {
  if (!w.affinity.count(tid)) return;
  CpuSet allowed = CpusOf(tid), keep;
  auto u = user_mask_.find(tid);
  if (keeps_user_mask && u != user_mask_.end())
    for (int c : u->second)
      if (allowed.count(c)) keep.insert(c);
  w.affinity[tid] = keep.empty() ? allowed : keep;
}

void FakeMachine::MakeV2Cgroup(const std::string& rel, const std::string& cpus) {
  std::string d = "cg" + (rel == "/" ? std::string() : rel);
  if (rel == "/") v2_all_ = ParseCpuList(cpus).value_or(CpuSet{});
  t.Write(d + "/cpuset.cpus.effective", cpus + "\n");
  t.Write(d + "/cgroup.procs", "");
  if (rel != "/") {
    t.Write(d + "/cpuset.cpus", "\n");
    t.Write(d + "/cpuset.cpus.partition", "member\n");
    RecomputeV2();
  }
  Sync();
}

void FakeMachine::RecomputeV2() {
  auto read = [](const std::string& f) {
    return ParseCpuList(Trim(ReadLine(f).value_or(""))).value_or(CpuSet{});
  };
  auto part_cpus = [&](const std::string& d) {  // CPUs of a partition root, else empty
    if (Trim(ReadLine(JoinPath(d, "cpuset.cpus.partition")).value_or("")) != "root")
      return CpuSet{};
    CpuSet x = read(JoinPath(d, "cpuset.cpus.exclusive"));
    return x.empty() ? read(JoinPath(d, "cpuset.cpus")) : x;
  };
  std::function<void(const std::string&, const CpuSet&)> walk = [&](const std::string& d,
                                                                    const CpuSet& parent) {
    CpuSet eff = part_cpus(d);
    if (eff.empty()) {
      CpuSet own = read(JoinPath(d, "cpuset.cpus"));
      for (int c : parent)
        if (own.empty() || own.count(c)) eff.insert(c);
    }
    auto names = ListDir(d);
    std::vector<std::string> kids;
    for (const std::string& n : names.value_or(std::vector<std::string>{}))
      if (PathExists(JoinPath(d, n) + "/cpuset.cpus.effective")) kids.push_back(JoinPath(d, n));
    for (const std::string& k : kids)
      for (int c : part_cpus(k)) eff.erase(c);
    t.Write(d.substr(t.root().size()) + "/cpuset.cpus.effective", FormatCpuList(eff) + "\n");
    for (const std::string& k : kids) walk(k, eff);
  };
  std::map<pid_t, CpuSet> before;
  for (const auto& [tid, k] : tasks_) before[tid] = CpusOf(tid);
  walk(cg(), v2_all_);
  for (const auto& [tid, k] : tasks_)
    if (CpusOf(tid) != before[tid]) Reset(tid);
}

void FakeMachine::RemoveTask(pid_t tid) {
  tasks_.erase(tid);
  w.sched.erase(tid);
  w.affinity.erase(tid);
  std::filesystem::remove_all(t.Path("proc/" + std::to_string(tid)));
  Sync();
}

void FakeMachine::SetStartTime(pid_t tid, uint64_t start) {
  tasks_[tid].start = start;
  WriteProc(tid);
}

void FakeMachine::MakeCpuset(const std::string& rel, const std::string& cpus,
                             const std::string& mems) {
  t.Write("cpuset" + rel + "/cpuset.cpus", cpus + "\n");
  t.Write("cpuset" + rel + "/cpuset.mems", mems + "\n");
  t.Write("cpuset" + rel + "/tasks", "");
  Sync();
}

void FakeMachine::MakeCpuCgroup(const std::string& rel, const std::string& idle,
                                const std::string& weight_file) {
  const bool v1 = weight_file == "cpu.shares";
  t.Write("cpu" + rel + "/cpu.idle", idle + "\n");
  t.Write("cpu" + rel + "/" + weight_file,
          (idle == "1" ? (v1 ? "3" : v2_idle_weight) : (v1 ? "1024" : "100")) + "\n");
  t.Write("cpu" + rel + "/tasks", "");
  Sync();
}

void FakeMachine::Sync() {
  if (PathExists(cg())) {
    std::vector<std::string> dirs{cg()};
    for (auto& d : ListChildCgroups(cg())) dirs.push_back(d);
    for (const std::string& d : dirs) {
      std::string rel = d.size() <= cg().size() ? "/" : d.substr(cg().size());
      std::set<pid_t> procs;
      for (const auto& [tid, k] : tasks_)
        if (k.v2_cg == rel) procs.insert(k.tgid);
      std::string content;
      for (pid_t p : procs) content += std::to_string(p) + "\n";
      t.Write(d.substr(t.root().size()) + "/cgroup.procs", content);
    }
  }
  for (const auto& [root, is_cpuset] : {std::pair{cpuset(), true}, std::pair{cpu(), false}}) {
    std::vector<std::string> dirs{root};
    for (auto& d : ListChildCgroups(root)) dirs.push_back(d);
    for (const std::string& d : dirs) {
      std::string rel = d.size() <= root.size() ? "/" : d.substr(root.size());
      std::string content;
      for (const auto& [tid, k] : tasks_)
        if ((is_cpuset ? k.cpuset_cg : k.cpu_cg) == rel) content += std::to_string(tid) + "\n";
      if (PathExists(JoinPath(d, "tasks")) || !is_cpuset || PathExists(JoinPath(d, "cpuset.cpus")))
        t.Write(d.substr(t.root().size()) + "/tasks", content);
    }
  }
}

}  // namespace sw::test

#include "cgroup/tasks.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "common/fs.h"

namespace sw {
namespace {

bool ParseU64(const std::string& s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string ProcPath(const std::string& proc_root, pid_t tid, const char* file) {
  return JoinPath(JoinPath(proc_root, std::to_string(tid)), file);
}

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<pid_t>> ReadIds(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) return text.error();
  std::vector<pid_t> ids;
  for (const std::string& line : Split(*text, '\n')) {
    std::string t = Trim(line);
    if (t.empty()) continue;
    uint64_t v = 0;
    if (!ParseU64(t, &v)) return Error{EINVAL, path + ": expected a task id, found '" + t + "'"};
    ids.push_back(static_cast<pid_t>(v));
  }
  return ids;
}

}  // namespace

Result<TaskStat> ParseTaskStat(const std::string& text, pid_t tid) {
  // "<pid> (<comm>) <state> <ppid> ..." — comm may contain ") ", so split at the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos)
    return Error{EINVAL, "malformed stat of task " + std::to_string(tid)};
  std::vector<std::string> f;
  for (const std::string& tok : Split(Trim(text.substr(close + 1)), ' '))
    if (!tok.empty()) f.push_back(tok);
  // f[0] is field 3 (state): field N is f[N-3].
  if (f.size() < 20) return Error{EINVAL, "short stat of task " + std::to_string(tid)};
  TaskStat st;
  st.tid = tid;
  uint64_t ppid = 0;
  if (!ParseU64(f[1], &ppid) || !ParseU64(f[6], &st.flags) || !ParseU64(f[19], &st.start_time))
    return Error{EINVAL, "malformed stat of task " + std::to_string(tid)};
  st.ppid = static_cast<pid_t>(ppid);
  uint64_t cpu = 0;
  if (f.size() > 36 && ParseU64(f[36], &cpu)) st.last_cpu = static_cast<int>(cpu);
  return st;
}

Result<TaskStat> ReadTaskStat(const std::string& proc_root, pid_t tid) {
  auto text = ReadFile(ProcPath(proc_root, tid, "stat"));
  if (!text) return text.error();
  return ParseTaskStat(*text, tid);
}

Result<pid_t> ParseTgid(const std::string& text, pid_t tid) {
  for (const std::string& line : Split(text, '\n')) {
    if (line.rfind("Tgid:", 0) == 0) {
      uint64_t v = 0;
      if (ParseU64(Trim(line.substr(5)), &v)) return static_cast<pid_t>(v);
    }
  }
  return Error{EINVAL, "no Tgid in status of task " + std::to_string(tid)};
}

Result<pid_t> ReadTgid(const std::string& proc_root, pid_t tid) {
  auto text = ReadFile(ProcPath(proc_root, tid, "status"));
  if (!text) return text.error();
  return ParseTgid(*text, tid);
}

Result<std::string> ParseTaskCgroup(const std::string& text, const std::string& controller,
                                    const std::string& path) {
  for (const std::string& line : Split(text, '\n')) {
    // "hierarchy-id:controller-list:path"; the path itself may contain ':'.
    size_t a = line.find(':');
    if (a == std::string::npos) continue;
    size_t b = line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1);
    std::string cg = line.substr(b + 1);
    if (controller.empty()) {
      if (line.substr(0, a) == "0" && ctrls.empty()) return cg;
      continue;
    }
    for (const std::string& c : Split(ctrls, ','))
      if (c == controller) return cg;
  }
  return Error{ENOENT, path + ": task is in no '" + (controller.empty() ? "v2" : controller) +
                           "' hierarchy"};
}

Result<std::string> ReadTaskCgroup(const std::string& proc_root, pid_t tid,
                                   const std::string& controller) {
  std::string path = ProcPath(proc_root, tid, "cgroup");
  auto text = ReadFile(path);
  if (!text) return text.error();
  return ParseTaskCgroup(*text, controller, path);
}

std::vector<std::string> ListChildCgroups(const std::string& dir) {
  std::vector<std::string> out;
  auto names = ListDir(dir);
  if (!names) return out;
  for (const std::string& n : *names) {
    std::string p = JoinPath(dir, n);
    if (!IsDir(p)) continue;
    out.push_back(p);
    for (std::string& c : ListChildCgroups(p)) out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<pid_t>> ListCgroupThreads(const std::string& cgroup_dir,
                                             const std::string& proc_root, bool recursive) {
  if (!IsDir(cgroup_dir)) return Error{ENOENT, "cgroup " + cgroup_dir + " does not exist"};
  std::vector<std::string> dirs{cgroup_dir};
  if (recursive)
    for (std::string& c : ListChildCgroups(cgroup_dir)) dirs.push_back(std::move(c));
  std::set<pid_t> tids;
  for (const std::string& d : dirs) {
    std::string tasks = JoinPath(d, "tasks");
    std::string threads = JoinPath(d, "cgroup.threads");
    if (PathExists(tasks) || PathExists(threads)) {
      auto ids = ReadIds(PathExists(tasks) ? tasks : threads);
      if (!ids) {
        if (ids.error().code == ENOENT) continue;  // removed while we walked: not an error
        return ids.error();
      }
      tids.insert(ids->begin(), ids->end());
      continue;
    }
    auto procs = ReadIds(JoinPath(d, "cgroup.procs"));
    if (!procs) {
      if (procs.error().code == ENOENT) continue;
      return procs.error();
    }
    for (pid_t p : *procs) {
      auto task_ids = ListDir(JoinPath(JoinPath(proc_root, std::to_string(p)), "task"));
      if (!task_ids) continue;  // exited
      for (const std::string& t : *task_ids) {
        uint64_t v = 0;
        if (ParseU64(t, &v)) tids.insert(static_cast<pid_t>(v));
      }
    }
  }
  return std::vector<pid_t>(tids.begin(), tids.end());
}

std::vector<pid_t> ListAllThreads(const std::string& proc_root) {
  std::set<pid_t> tids;
  auto pids = ListDir(proc_root);
  if (!pids) return {};
  for (const std::string& p : *pids) {
    uint64_t pid = 0;
    if (!ParseU64(p, &pid)) continue;
    auto task_ids = ListDir(JoinPath(JoinPath(proc_root, p), "task"));
    if (!task_ids) continue;  // exited
    for (const std::string& t : *task_ids) {
      uint64_t v = 0;
      if (ParseU64(t, &v)) tids.insert(static_cast<pid_t>(v));
    }
  }
  return std::vector<pid_t>(tids.begin(), tids.end());
}

Result<CpuSet> ReadTaskCpusetCpus(const std::string& proc_root, const std::string& cpuset_root,
                                  const std::string& controller, pid_t tid) {
  auto cg = ReadTaskCgroup(proc_root, tid, controller);
  if (!cg) return cg.error();
  const std::vector<const char*> files =
      controller.empty() ? std::vector<const char*>{"cpuset.cpus.effective"}
                         : std::vector<const char*>{"cpuset.effective_cpus", "cpuset.cpus"};
  std::string rel = *cg;
  for (;;) {
    std::string dir = rel == "/" ? cpuset_root : JoinPath(cpuset_root, rel);
    for (const char* f : files) {
      auto line = ReadLine(JoinPath(dir, f));
      if (!line) continue;
      auto cpus = ParseCpuList(Trim(*line));
      if (!cpus) return cpus.error().WithContext(JoinPath(dir, f));
      if (!cpus->empty()) return cpus;
    }
    if (rel == "/" || rel.empty()) break;
    size_t s = rel.find_last_of('/');
    rel = s == 0 ? "/" : rel.substr(0, s);
  }
  return Error{ENOENT, "no cpuset CPUs found for task " + std::to_string(tid) + " (cgroup " + *cg +
                           " under " + cpuset_root + ")"};
}

std::vector<std::string> ListProcessNames(const std::string& cgroup_dir,
                                          const std::string& proc_root, int max_pids) {
  std::vector<std::string> dirs{cgroup_dir};
  for (std::string& c : ListChildCgroups(cgroup_dir)) dirs.push_back(std::move(c));
  std::vector<std::string> names;
  int pids = 0;
  for (const std::string& d : dirs) {
    auto procs = ReadIds(JoinPath(d, "cgroup.procs"));
    if (!procs) continue;  // vanished (or unreadable): nothing to name
    for (pid_t p : *procs) {
      if (pids++ >= max_pids) break;
      // The process may exit between the two reads: that is not an error.
      if (auto comm = ReadLine(ProcPath(proc_root, p, "comm"))) names.push_back(Trim(*comm));
    }
    if (pids >= max_pids) break;
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

bool SameTask(const std::string& proc_root, pid_t tid, uint64_t start_time) {
  auto st = ReadTaskStat(proc_root, tid);
  return st.ok() && st->start_time == start_time;
}

}  // namespace sw

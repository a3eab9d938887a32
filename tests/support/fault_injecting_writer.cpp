// See fault_injecting_writer.h.
#include "support/fault_injecting_writer.h"

namespace sw {

Result<void> FaultInjectingWriter::Step(const std::string& op, const std::string& what) {
  const int n = calls() + 1;
  if (before) before(n, op);
  if (n == fail_at || (fail_if && fail_if(op))) {
    ops.push_back("FAILED " + op);
    failures_++;
    return Error::FromErrno(fail_errno, what + " (injected)");
  }
  ops.push_back(op);
  return Ok();
}

Result<void> FaultInjectingWriter::WriteFile(const std::string& path, const std::string& value) {
  if (auto r = Step("write " + path + " " + value, "write '" + value + "' to " + path); !r)
    return r;
  return inner_.WriteFile(path, value);
}

Result<void> FaultInjectingWriter::MoveTask(const std::string& file, pid_t id) {
  const std::string t = std::to_string(id);
  if (auto r = Step("move " + file + " " + t, "write " + t + " to " + file); !r) return r;
  return inner_.MoveTask(file, id);
}

Result<void> FaultInjectingWriter::MakeDir(const std::string& path) {
  if (auto r = Step("mkdir " + path, "mkdir " + path); !r) return r;
  return inner_.MakeDir(path);
}

Result<void> FaultInjectingWriter::RemoveDir(const std::string& path) {
  if (auto r = Step("rmdir " + path, "rmdir " + path); !r) return r;
  return inner_.RemoveDir(path);
}

Result<void> FaultInjectingWriter::SetSchedAttr(pid_t tid, const SchedAttr& attr) {
  const std::string t = std::to_string(tid);
  if (auto r = Step(
          "setattr " + t + " " + SchedPolicyName(attr.policy) + " " + std::to_string(attr.nice),
          "sched_setattr on thread " + t);
      !r)
    return r;
  return inner_.SetSchedAttr(tid, attr);
}

Result<void> FaultInjectingWriter::SetAffinity(pid_t tid, const CpuSet& cpus) {
  const std::string t = std::to_string(tid), list = FormatCpuList(cpus);
  if (auto r = Step("affinity " + t + " " + list, "sched_setaffinity(" + list + ") on thread " + t);
      !r)
    return r;
  return inner_.SetAffinity(tid, cpus);
}

}  // namespace sw

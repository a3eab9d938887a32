#include "enforce/drift.h"

#include <map>

#include "common/cpulist.h"
#include "common/fs.h"

namespace sw {
namespace {

std::string FileName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool Same(const std::string& kind, const std::string& a, const std::string& b) {
  if (kind == "cpuset.cpus") {
    auto x = ParseCpuList(a), y = ParseCpuList(b);
    if (x && y) return *x == *y;
  }
  return Trim(a) == Trim(b);
}

}  // namespace

bool DriftWatched(const std::string& path) {
  const std::string n = FileName(path);
  return n == "cpu.shares" || n == "cpu.weight" || n == "cpu.idle" || n == "cpuset.cpus";
}

Result<std::vector<DriftRecord>> YieldDrifted(Journal& journal) {
  // Newest applied write per file, and every outstanding record of that file.
  std::map<std::string, const JournalEntry*> newest;
  std::map<std::string, std::vector<uint64_t>> seqs;
  const std::vector<JournalEntry> out = journal.Outstanding();
  for (const JournalEntry& e : out) {
    if (e.kind != ChangeKind::kWriteFile || !DriftWatched(e.path)) continue;
    seqs[e.path].push_back(e.seq);
    // value "" is a change the kernel made (a weight cpu.idle reset): restore_if guards it.
    if (e.applied && !e.value.empty()) newest[e.path] = &e;
  }
  std::vector<DriftRecord> drifted;
  std::vector<uint64_t> yield;
  for (const auto& [path, e] : newest) {
    auto now = ReadLine(path);
    if (!now) continue;  // vanished or unreadable: nothing to compare
    const std::string kind = FileName(path);
    if (Same(kind, e->value, *now)) continue;
    drifted.push_back({e->group, path, kind, e->value, Trim(*now)});
    yield.insert(yield.end(), seqs[path].begin(), seqs[path].end());
  }
  if (auto r = journal.MarkAllUndone(yield); !r) return r.error();
  return drifted;
}

}  // namespace sw

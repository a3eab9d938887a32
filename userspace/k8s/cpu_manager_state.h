// kubelet's CPU manager checkpoint (/var/lib/kubelet/cpu_manager_state): with the static policy,
// the CPUs kubelet gives Guaranteed containers with integer CPU requests. The agent never makes
// them exclusive, never shields or narrows them (docs/kubernetes.md, "CPU manager").
//
//   {"policyName":"static","defaultCpuSet":"0,3-7","entries":{"<pod uid>":{"<container>":"1-2"}},
//    "checksum":1234567890}
//
// Older kubelets wrote entries as {"<container id>":"1-2"}; both are read. The checksum is kept,
// not verified (kubelet's is a hash of its Go structures): a file that parses is trusted.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/cpulist.h"
#include "common/result.h"

namespace sw {

struct CpuManagerState {
  std::string policy_name;  // "static", "none", ...
  CpuSet default_cpuset;
  // pod uid -> container name -> CPUs ("" pod for the old flat format, keyed by container id).
  std::map<std::string, std::map<std::string, CpuSet>> entries;
  std::string checksum;  // as written
  // CPUs assigned to containers: every entry's CPUs; none under policy "none".
  CpuSet Assigned() const;
  // Who holds each assigned CPU: "container <name> of pod <uid>".
  std::map<int, std::string> Owners() const;
};

// EINVAL with what is wrong (not JSON, a missing or mistyped field, a bad cpu list).
Result<CpuManagerState> ParseCpuManagerState(const std::string& json_text);

// What the agent keeps away from: re-read when the file changes (inode, size or mtime), so
// kubelet's atomic rewrites are seen at the next interval and an unchanged file costs a stat().
//  - absent file, or policy "none": nothing assigned;
//  - a file that does not parse: the last good reading stays in force; with none (the agent just
//    started), `known` is false and no CPU may be handed out until the file reads well.
class CpuManagerStateReader {
 public:
  explicit CpuManagerStateReader(std::string path) : path_(std::move(path)) {}

  struct View {
    bool known = true;  // false: unreadable and no good reading yet (fail closed)
    CpuSet assigned;
    std::map<int, std::string> owners;
    bool operator==(const View&) const = default;
  };
  // Re-reads if the file changed. `changed`: the first call, or the view differs from the previous
  // call's. `problem`: a new problem to log (once per distinct problem), or a recovery notice.
  struct Refreshed {
    View view;
    bool changed = false;
    std::optional<std::string> problem;
  };
  Refreshed Refresh();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  View view_;
  bool have_good_ = false, stat_seen_ = false, first_ = true;
  ino_t ino_ = 0;
  off_t size_ = -1;
  int64_t mtime_ns_ = -1;
  std::string last_problem_;
};

}  // namespace sw

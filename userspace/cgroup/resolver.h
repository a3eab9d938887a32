// CgroupResolver: cpu-controller cgroup id -> cgroup path. The BPF programs key everything by the
// kernfs id of the task's cpu cgroup, which equals the inode number of the cgroup's directory, so
// ids are resolved by walking the hierarchy and indexing directories by st_ino. The index is
// cached; an unknown id triggers a re-walk (rate-limited, so a flood of ids that never resolve
// cannot make the agent walk the tree every interval), and each walk garbage-collects ids whose
// directory is gone — reported by TakeRemoved() so the collector can drop their BPF entries.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"

namespace sw {

struct CgroupResolverOptions {
  // At most one walk triggered by unknown ids per this interval.
  std::chrono::nanoseconds min_refresh_interval = std::chrono::seconds(1);
  // A walk at least this often even without unknown ids, to notice removed cgroups.
  std::chrono::nanoseconds gc_interval = std::chrono::seconds(10);
};

class CgroupResolver {
 public:
  // hierarchy_root: directory of the cpu hierarchy's root cgroup (CgroupMounts::cpu.path).
  explicit CgroupResolver(std::string hierarchy_root, CgroupResolverOptions options = {});

  // Walks the tree now, whatever the rate limit. Error when the root itself cannot be read.
  Result<void> Refresh(std::chrono::nanoseconds now);
  // "/"-rooted path of `id`, or nullopt when no directory has that inode (after at most one
  // rate-limited re-walk). Error only when a needed walk failed at the root.
  Result<std::optional<std::string>> Resolve(uint64_t id, std::chrono::nanoseconds now);
  // Cached lookup only, never walks.
  std::optional<std::string> Lookup(uint64_t id) const;
  // Walks when the last walk is older than gc_interval (so removals are noticed).
  Result<void> MaybeCollectGarbage(std::chrono::nanoseconds now);
  // Ids that were cached and whose directory disappeared, since the last call.
  std::vector<uint64_t> TakeRemoved();

  // Whether a "/"-rooted cgroup path exists as a directory in the hierarchy now.
  bool PathExists(const std::string& cgroup_path) const;
  const std::string& hierarchy_root() const { return root_; }
  // Time of the last completed walk; nullopt before the first.
  std::optional<std::chrono::nanoseconds> last_walk() const { return last_walk_; }
  uint64_t walks() const { return walks_; }
  size_t size() const { return by_id_.size(); }

 private:
  std::string root_;
  CgroupResolverOptions options_;
  std::unordered_map<uint64_t, std::string> by_id_;
  std::vector<uint64_t> removed_;
  std::optional<std::chrono::nanoseconds> last_walk_;
  std::optional<std::chrono::nanoseconds> last_attempt_;
  uint64_t walks_ = 0;
};

}  // namespace sw

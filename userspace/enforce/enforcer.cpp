#include "enforce/enforcer.h"

#include <unistd.h>

#include "cgroup/tasks.h"
#include "common/fs.h"

namespace sw {

Result<std::unique_ptr<Enforcer>> Enforcer::Create(EnforcerConfig config, SystemWriter& writer) {
  std::unique_ptr<Enforcer> e(new Enforcer());
  // Every change goes through the kubelet guard: no actuator or restore writes kubelet's own
  // QoS-level cgroups, whatever it was asked.
  e->guard_ = std::make_unique<KubeletGuardWriter>(writer);
  e->writer_ = e->guard_.get();
  if (config.mounts) {
    e->mounts_ = *config.mounts;
  } else {
    auto m =
        DetectCgroupMounts({.cgroup_root = config.sys_fs_cgroup, .proc_root = config.proc_root});
    if (!m) return m.error();
    e->mounts_ = std::move(*m);
  }
  auto cpuset = CpusetMount(e->mounts_);
  if (!cpuset) return cpuset.error();
  Topology topo;
  if (config.topology) {
    topo = *config.topology;
  } else {
    auto t = LoadLiveTopology();
    if (!t) return t.error();
    topo = std::move(*t);
  }
  auto alloc = CoreAllocator::Create(std::move(topo), config.allocator);
  if (!alloc) return alloc.error();
  e->allocator_.emplace(std::move(*alloc));
  auto j = Journal::Open(config.state_dir);
  if (!j) return j.error();
  // A handover marker is only taken from an intact journal; anything else is restored first.
  const bool adopt = !j->handover().empty() && j->load_report().corrupt.empty();
  if (!adopt && (!j->Outstanding().empty() || !j->load_report().corrupt.empty()))
    return Error{EEXIST, "journal " + j->path() + " still holds " +
                             std::to_string(j->Outstanding().size()) + " change(s) (" +
                             std::to_string(j->load_report().corrupt.size()) +
                             " corrupt record(s)) from a previous run: run ReconcileAtStartup / "
                             "`schedwarden restore` first"};
  e->journal_.emplace(std::move(*j));

  ExclusiveActuatorConfig ec;
  ec.version = cpuset->version;
  ec.cpuset_root = cpuset->path;
  ec.workload_root = e->mounts_.cpu.path;
  ec.proc_root = config.proc_root;
  e->exclusive_ =
      std::make_unique<ExclusiveCoreActuator>(ec, *e->writer_, *e->journal_, config.rails);
  if (auto r = e->exclusive_->Init(); !r) return r.error();
  BestEffortActuatorConfig bc;
  bc.proc_root = config.proc_root;
  bc.cgroup_root = e->mounts_.cpu.path;
  e->best_effort_ =
      std::make_unique<BestEffortActuator>(bc, *e->writer_, *e->journal_, config.rails);
  e->cfg_ = std::move(config);
  if (adopt)
    if (auto r = e->Adopt(); !r) return r.error();
  return e;
}

std::string Enforcer::Dir(const std::string& cgroup) const {
  const std::string& root = mounts_.cpu.path;
  return cgroup.empty() || cgroup == "/" ? root : JoinPath(root, cgroup);
}

std::string Enforcer::CpusetDir(const std::string& cgroup) const {
  // v1: the shield moves the threads listed in the cpu hierarchy. v2: the workload's own cgroup
  // gets the cpuset files; where cpu is a v1 hierarchy and cpuset lives on cgroup2 (systemd's
  // hybrid layout on kernels without v1 cpusets) that is the same path in the cgroup2 tree,
  // which systemd keeps parallel to the v1 ones.
  if (mounts_.cpuset->version == CgroupVersion::kV1) return Dir(cgroup);
  const std::string& root = mounts_.cpuset->path;
  return cgroup.empty() || cgroup == "/" ? root : JoinPath(root, cgroup);
}

Result<PromoteOutcome> Enforcer::Promote(const std::string& workload, const std::string& cgroup,
                                         int want_cpus) {
  PromoteOutcome out;
  if (exclusive_->Promoted().count(workload))
    return Error{EEXIST, "'" + workload + "' already holds exclusive CPUs; Release it first"};

  // Where it runs now (the CPUs its threads last ran on): the allocator keeps it on that node.
  AllocationRequest req{workload, want_cpus, {}};
  if (auto tids = ListCgroupThreads(Dir(cgroup), cfg_.proc_root, true); tids) {
    for (size_t i = 0; i < tids->size() && i < 64; i++) {
      auto st = ReadTaskStat(cfg_.proc_root, (*tids)[i]);
      if (st && st->last_cpu >= 0) req.running_on.insert(st->last_cpu);
    }
  }
  out.allocation = allocator_->Allocate(req);
  if (!out.allocation.granted) return out;  // refused with a reason: not an error
  auto r = exclusive_->Promote({workload, CpusetDir(cgroup)}, out.allocation.cpus);
  if (!r) {
    allocator_->Release(workload);
    return r.error();
  }
  out.applied = std::move(*r);
  return out;
}

std::vector<std::string> Enforcer::SetUnavailableCpus(CpuSet cpus, std::string who) {
  std::vector<std::string> holders = allocator_->HoldersOf(cpus);
  allocator_->SetUnavailable(std::move(cpus), std::move(who));
  return holders;
}

Result<UndoReport> Enforcer::Release(const std::string& workload) {
  auto r = exclusive_->Release(workload);
  allocator_->Release(workload);
  return r;
}

Result<DemoteResult> Enforcer::Demote(const std::string& workload, const std::string& cgroup,
                                      const std::optional<std::string>& idle_cgroup) {
  BestEffortTarget t{workload, Dir(cgroup), std::nullopt};
  if (idle_cgroup) t.idle_dir = idle_cgroup->empty() ? "" : Dir(*idle_cgroup);
  return best_effort_->Demote(t);
}

Result<UndoReport> Enforcer::Revert(const std::string& workload) {
  return best_effort_->Revert(workload);
}

Result<void> Enforcer::Sweep() {
  // Before the actuators look at the files: a rewrite by kubelet is its owner's, not ours.
  auto drifted = YieldDrifted(*journal_);
  if (!drifted) return drifted.error();
  drift_.insert(drift_.end(), drifted->begin(), drifted->end());
  // Both run every interval: a leaf cpuset the exclusive sweep could not write (reported once)
  // must not hold back the demotion of new threads.
  auto ex = exclusive_->Sweep();
  auto be = best_effort_->Sweep();
  if (!ex) return ex.error();
  if (!be) return be.error();
  return Ok();
}

RestoreReport Enforcer::Shutdown() {
  // Through the actuators first (they know the order and widen before narrowing), then
  // whatever the journal still holds.
  RestoreReport rep;
  rep.journal_found = true;
  UndoReport u = best_effort_->RevertAll();
  u.Merge(exclusive_->ReleaseAll());
  RestoreOptions opts;
  opts.proc_root = cfg_.proc_root;
  opts.rails = cfg_.rails;
  RestoreReport rest = RestoreJournal(*journal_, *writer_, opts);
  rep.outstanding_before = u.restored +
                           static_cast<int>(u.failed.size() + u.gone.size() + u.skipped.size()) +
                           rest.outstanding_before;
  u.Merge(rest.undo);
  rep.undo = std::move(u);
  std::vector<std::string> held;
  for (const auto& [name, cores] : allocator_->allocations()) held.push_back(name);
  for (const std::string& n : held) allocator_->Release(n);
  return rep;
}

}  // namespace sw

namespace sw {

Result<void> Enforcer::Handover(const std::string& controller_state) {
  nlohmann::json state;
  state["exclusive"] = nlohmann::json::parse(exclusive_->ExportState());
  state["best_effort"] = nlohmann::json::parse(best_effort_->ExportState());
  state["allocations"] = allocator_->allocations();
  state["controller"] =
      nlohmann::json::parse(controller_state.empty() ? "null" : controller_state, nullptr, false);
  return journal_->WriteHandover(state.dump());
}

Result<void> Enforcer::AdoptExclusive(const nlohmann::json& state) {
  bool undone = false;
  for (const auto& g : adopt_.undone_groups) undone |= IsExclusiveGroup(g);
  if (undone) return Ok();  // VerifyForAdoption undid the whole exclusive side
  std::string broken;
  if (auto r = exclusive_->ImportState(state.at("exclusive").dump()); !r)
    broken = r.error().message;
  for (const auto& [w, cores] : state.at("allocations").items())
    if (broken.empty() && !allocator_->Adopt(w, cores.get<std::vector<int>>()))
      broken = "cores of '" + w + "' do not fit this machine's topology";
  if (broken.empty()) return Ok();
  // What the actuator would hold does not match the machine: the exclusive side is undone.
  adopt_.broken.push_back("[exclusive] " + broken);
  adopt_.undone_groups.insert("shield");
  for (const auto& [name, cores] : std::map(allocator_->allocations())) allocator_->Release(name);
  if (auto r = exclusive_->ImportState(R"({"shield_up":false,"held":{},"touched":{}})"); !r)
    return r;
  UndoBrokenGroups(*journal_, *writer_, cfg_.proc_root, &adopt_);
  return Ok();
}

Result<void> Enforcer::Adopt() {
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(journal_->handover());
    adopt_ = VerifyForAdoption(*journal_, *writer_, cfg_.proc_root);
    if (auto r = AdoptExclusive(state); !r) return r.error().WithContext(journal_->path());
    if (auto r = best_effort_->ImportState(state.at("best_effort").dump()); !r) return r;
  } catch (const std::exception& ex) {
    return Error{EINVAL, journal_->path() + ": handover marker unreadable (" + ex.what() +
                             "); run `schedwarden restore --state-dir " + cfg_.state_dir + "`"};
  }
  // A demotion whose group was undone is no longer held.
  for (const std::string& w : best_effort_->Demoted())
    if (adopt_.undone_groups.count("idle:" + w)) best_effort_->Forget(w);
  if (!state.at("controller").is_null()) adopted_controller_ = state.at("controller").dump();
  return journal_->ConsumeHandover("adopted by pid " + std::to_string(::getpid()) + ": " +
                                   std::to_string(adopt_.held) + " change(s) held");
}

}  // namespace sw

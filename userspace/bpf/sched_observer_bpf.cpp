#include "bpf/sched_observer_bpf.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "bpf/map_decode.h"
#include "common/capabilities.h"
#include "common/fs.h"
#include "schedwarden.skel.h"

namespace sw {
namespace {

constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";

Error BpfError(int err, const std::string& what) {
  Error e = Error::FromErrno(err, what);
  // EACCES from BPF_PROG_LOAD is the verifier's verdict, not a missing privilege.
  if (err == EPERM)
    e.message += " (run schedwarden as root, or grant it " + AgentCapabilityList() + ")";
  return e;
}

// Loads `r0 = 0; exit` as a tp_btf program on sched_switch: the kernel resolves and checks the
// BTF attach target at load time, so success means tp_btf programs work here.
int ProbeTpBtf() {
  int btf_id = libbpf_find_vmlinux_btf_id("sched_switch", BPF_TRACE_RAW_TP);
  if (btf_id < 0) return 0;
  bpf_insn insns[2]{};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[0].dst_reg = BPF_REG_0;
  insns[1].code = BPF_JMP | BPF_EXIT;
  bpf_prog_load_opts opts{};
  opts.sz = sizeof(opts);
  opts.expected_attach_type = BPF_TRACE_RAW_TP;
  opts.attach_btf_id = static_cast<__u32>(btf_id);
  int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "sw_probe_tpbtf", "GPL", insns, 2, &opts);
  if (fd >= 0) {
    close(fd);
    return 1;
  }
  return errno == EPERM ? -EPERM : 0;
}

bool StructHasMember(const btf* b, const char* st, const char* member) {
  int id = btf__find_by_name_kind(b, st, BTF_KIND_STRUCT);
  if (id <= 0) return false;
  const btf_type* t = btf__type_by_id(b, id);
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); i++)
    if (std::strcmp(btf__name_by_offset(b, m[i].name_off), member) == 0) return true;
  return false;
}

// The fields sw_task_throttled (bpf/core_fixes.bpf.h) reads, in the running kernel's BTF.
bool ProbeCfsThrottleFields() {
  btf* b = btf__load_vmlinux_btf();
  if (!b) return false;
  bool ok = StructHasMember(b, "task_struct", "throttled") ||
            (StructHasMember(b, "sched_entity", "cfs_rq") &&
             StructHasMember(b, "cfs_rq", "throttle_count"));
  btf__free(b);
  return ok;
}

// libbpf's messages (verifier log included) in the agent's log instead of raw on stderr. They
// carry their own "libbpf: " prefix and a trailing newline.
int LibbpfLog(enum libbpf_print_level level, const char* format, va_list args) {
  spdlog::level::level_enum lvl = level == LIBBPF_WARN   ? spdlog::level::warn
                                  : level == LIBBPF_INFO ? spdlog::level::info
                                                         : spdlog::level::debug;
  if (!spdlog::should_log(lvl)) return 0;
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n <= 0) return n;
  std::string msg(static_cast<size_t>(n) + 1, '\0');
  std::vsnprintf(msg.data(), msg.size(), format, args);
  msg.resize(static_cast<size_t>(n));
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  spdlog::log(lvl, "{}", msg);
  return n;
}

bpf_program* FindProgram(schedwarden* skel, std::string_view name) {
  return bpf_object__find_program_by_name(skel->obj, std::string(name).c_str());
}

}  // namespace

void RouteLibbpfLogToSpdlog() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(LibbpfLog); });
}

Result<BpfFeatures> ProbeBpfFeatures() {
  RouteLibbpfLogToSpdlog();
  static std::mutex mu;
  static std::optional<BpfFeatures> cached;
  std::lock_guard<std::mutex> lock(mu);
  if (cached) return *cached;

  BpfFeatures f;
  f.vmlinux_btf = PathExists(kVmlinuxBtf);
  if (f.vmlinux_btf) {
    int tp = ProbeTpBtf();
    if (tp == -EPERM) return BpfError(EPERM, "probing BPF support (loading a test program)");
    f.tp_btf = tp == 1;
    f.cfs_throttle_fields = ProbeCfsThrottleFields();
  }
  int ts = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr);
  if (ts == -EPERM) return BpfError(EPERM, "probing BPF support (creating a test map)");
  f.task_storage = ts == 1;
  cached = f;  // only successful probes are cached: EPERM may be fixed by a retry as root
  return f;
}

SchedObserverBpf::SchedObserverBpf(SchedObserverBpf&& o) noexcept
    : skel_(std::exchange(o.skel_, nullptr)),
      stats_fd_(std::exchange(o.stats_fd_, -1)),
      links_(std::move(o.links_)),
      state_(std::exchange(o.state_, State::kNew)),
      options_(o.options_),
      kind_(o.kind_),
      throttle_probe_(o.throttle_probe_) {
  o.links_.clear();
}

SchedObserverBpf& SchedObserverBpf::operator=(SchedObserverBpf&& o) noexcept {
  if (this != &o) {
    Destroy();
    skel_ = std::exchange(o.skel_, nullptr);
    stats_fd_ = std::exchange(o.stats_fd_, -1);
    links_ = std::move(o.links_);
    o.links_.clear();
    state_ = std::exchange(o.state_, State::kNew);
    options_ = o.options_;
    kind_ = o.kind_;
    throttle_probe_ = o.throttle_probe_;
  }
  return *this;
}

SchedObserverBpf::~SchedObserverBpf() { Destroy(); }

void SchedObserverBpf::Destroy() {
  Detach();
  if (skel_) schedwarden__destroy(skel_);
  skel_ = nullptr;
  if (stats_fd_ >= 0) close(stats_fd_);
  stats_fd_ = -1;
  state_ = State::kNew;
}

Result<void> SchedObserverBpf::Open() {
  if (state_ != State::kNew) return Error{EINVAL, "SchedObserverBpf::Open called twice"};
  RouteLibbpfLogToSpdlog();
  if (!PathExists(kVmlinuxBtf))
    return Error{ENOENT, std::string("kernel BTF not found at ") + kVmlinuxBtf +
                             ": schedwarden's CO-RE BPF programs need a kernel built with "
                             "CONFIG_DEBUG_INFO_BTF=y"};
  skel_ = schedwarden__open();
  if (!skel_) return BpfError(errno, "opening the embedded BPF object (schedwarden.bpf.o)");
  state_ = State::kOpen;
  return Ok();
}

Result<void> SchedObserverBpf::Configure(const BpfOptions& options) {
  if (options.workload_map_entries == 0 || options.preempt_map_entries == 0 ||
      options.raw_stamp_entries == 0)
    return Error{EINVAL, "BPF map sizes must be positive"};
  if (state_ != State::kOpen && state_ != State::kConfigured)
    return Error{EINVAL, "SchedObserverBpf::Configure must come after Open and before Load"};

  Result<BpfFeatures> features = ProbeBpfFeatures();
  if (!features.ok()) return features.error();
  bool btf_ok = features->tp_btf && features->task_storage;
  AttachKind kind = options.attach;
  if (kind == AttachKind::kAuto) kind = btf_ok ? AttachKind::kTpBtf : AttachKind::kRawTp;
  if (kind == AttachKind::kTpBtf && !btf_ok)
    return Error{EOPNOTSUPP, std::string("tp_btf programs requested but this kernel lacks ") +
                                 (features->tp_btf ? "BPF task local storage" : "tp_btf support") +
                                 "; use the raw_tp twin (attach kind auto or raw_tp)"};

  std::optional<bool> throttle =
      ResolveThrottleProbe(options.throttle, features->cfs_throttle_fields);
  if (!throttle)
    return Error{EOPNOTSUPP,
                 "observer.bpf_throttle: on, but this kernel's BTF has neither "
                 "task_struct.throttled nor cfs_rq.throttle_count (no CONFIG_CFS_BANDWIDTH?); use "
                 "auto or off (throttling from cpu.stat only)"};

  bool btf = kind == AttachKind::kTpBtf;
  for (const ProgramSpec& p : kPrograms) {
    bpf_program* on = FindProgram(skel_, btf ? p.btf_name : p.raw_name);
    bpf_program* off = FindProgram(skel_, btf ? p.raw_name : p.btf_name);
    if (!on || !off)
      return Error{ENOENT, "BPF object lacks program for " + std::string(p.tracepoint)};
    bpf_program__set_autoload(on, true);
    bpf_program__set_autoload(off, false);
  }
  // Only the active twin's stamp map is created: no memory for the other, and kernels without
  // task storage can still load the raw_tp twin.
  bpf_map__set_autocreate(skel_->maps.task_stamps, btf);
  bpf_map__set_autocreate(skel_->maps.raw_stamps, !btf);

  int err = bpf_map__set_max_entries(skel_->maps.workloads, options.workload_map_entries);
  if (!err) err = bpf_map__set_max_entries(skel_->maps.preemptions, options.preempt_map_entries);
  if (!err) err = bpf_map__set_max_entries(skel_->maps.raw_stamps, options.raw_stamp_entries);
  bool percpu = options.workload_map == WorkloadMapKind::kPerCpu;
  if (!err)
    err = bpf_map__set_type(skel_->maps.workloads,
                            percpu ? BPF_MAP_TYPE_PERCPU_HASH : BPF_MAP_TYPE_HASH);
  if (err) return Error::FromErrno(-err, "configuring BPF maps");
  skel_->rodata->sw_percpu_workloads = percpu;   // plain adds instead of atomics on per-CPU copies
  skel_->rodata->sw_throttle_probe = *throttle;  // off: the check is dead code, not even loaded

  options_ = options;
  kind_ = kind;
  throttle_probe_ = *throttle;
  state_ = State::kConfigured;
  return Ok();
}

Result<void> SchedObserverBpf::Load() {
  if (state_ != State::kConfigured)
    return Error{EINVAL, "SchedObserverBpf::Load must come after Configure"};
  int err = schedwarden__load(skel_);
  if (err)
    return BpfError(-err, std::string("loading the ") + AttachKindName(kind_) +
                              " BPF programs (the libbpf log above has the verifier's reason)");
  if (options_.bpf_stats) {
    // A reference on the kernel's stats key, dropped when the fd closes (also if we crash).
    int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (fd < 0)
      return BpfError(errno,
                      "enabling BPF run-time stats (observer.bpf_stats: true; set it to false to "
                      "start without per-program run time)");
    stats_fd_ = fd;
  }
  state_ = State::kLoaded;
  return Ok();
}

Result<void> SchedObserverBpf::Attach() {
  if (state_ != State::kLoaded)
    return Error{EINVAL, "SchedObserverBpf::Attach must come after Load"};
  for (const LoadedProgram& p : programs()) {
    bpf_program* prog = FindProgram(skel_, p.name);
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      int e = errno;
      Detach();
      return BpfError(e, "attaching BPF program " + p.name + " to " + AttachKindName(kind_) + "/" +
                             p.tracepoint);
    }
    links_.push_back(link);
  }
  state_ = State::kAttached;
  return Ok();
}

void SchedObserverBpf::Detach() {
  for (bpf_link* l : links_) bpf_link__destroy(l);
  links_.clear();
  if (state_ == State::kAttached) state_ = State::kLoaded;
}

int SchedObserverBpf::workload_map_fd() const {
  return loaded() ? bpf_map__fd(skel_->maps.workloads) : -1;
}
int SchedObserverBpf::preempt_map_fd() const {
  return loaded() ? bpf_map__fd(skel_->maps.preemptions) : -1;
}
int SchedObserverBpf::drops_map_fd() const {
  return loaded() ? bpf_map__fd(skel_->maps.drops) : -1;
}

std::vector<LoadedProgram> SchedObserverBpf::programs() const {
  std::vector<LoadedProgram> out;
  if (!loaded()) return out;
  bool btf = kind_ == AttachKind::kTpBtf;
  for (const ProgramSpec& p : kPrograms) {
    std::string name(btf ? p.btf_name : p.raw_name);
    bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, name.c_str());
    out.push_back({name, std::string(p.tracepoint), prog ? bpf_program__fd(prog) : -1});
  }
  return out;
}

std::vector<std::pair<std::string, int>> SchedObserverBpf::maps() const {
  std::vector<std::pair<std::string, int>> out;
  if (!loaded()) return out;
  bpf_map* m;
  bpf_object__for_each_map(m, skel_->obj) {
    int fd = bpf_map__fd(m);
    if (fd >= 0) out.emplace_back(bpf_map__name(m), fd);
  }
  return out;
}

Result<SchedObserverBpf> StartSchedObserver(const BpfOptions& options) {
  SchedObserverBpf bpf;
  Result<void> r = bpf.Open();
  if (r.ok()) r = bpf.Configure(options);
  if (r.ok()) r = bpf.Load();
  if (r.ok()) r = bpf.Attach();
  if (!r.ok()) return r.error();
  return bpf;
}

}  // namespace sw

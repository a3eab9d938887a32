#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "common/duration.h"
#include "common/file_trust.h"
#include "common/fs.h"
#include "topology/topology.h"

namespace sw {

const char* WorkloadClassName(WorkloadClass c) {
  switch (c) {
    case WorkloadClass::kLatencyCritical:
      return "latency-critical";
    case WorkloadClass::kLatencySensitive:
      return "latency-sensitive";
    case WorkloadClass::kNormal:
      return "normal";
    case WorkloadClass::kBestEffort:
      return "best-effort";
  }
  return "normal";
}

std::optional<WorkloadClass> ParseWorkloadClass(const std::string& s) {
  for (auto c : {WorkloadClass::kLatencyCritical, WorkloadClass::kLatencySensitive,
                 WorkloadClass::kNormal, WorkloadClass::kBestEffort})
    if (s == WorkloadClassName(c)) return c;
  return std::nullopt;
}

const char* ExclusivePolicyName(ExclusivePolicy p) {
  switch (p) {
    case ExclusivePolicy::kNever:
      return "never";
    case ExclusivePolicy::kOnInterference:
      return "on-interference";
    case ExclusivePolicy::kAlways:
      return "always";
  }
  return "never";
}

std::optional<ExclusivePolicy> ParseExclusivePolicy(const std::string& s) {
  for (auto p :
       {ExclusivePolicy::kNever, ExclusivePolicy::kOnInterference, ExclusivePolicy::kAlways})
    if (s == ExclusivePolicyName(p)) return p;
  return std::nullopt;
}

const char* EnforcementModeName(EnforcementMode m) {
  switch (m) {
    case EnforcementMode::kObserve:
      return "observe";
    case EnforcementMode::kDryRun:
      return "dry-run";
    case EnforcementMode::kEnforce:
      return "enforce";
  }
  return "observe";
}

const char* OnStopName(OnStop s) { return s == OnStop::kHandover ? "handover" : "restore"; }

std::optional<OnStop> ParseOnStop(const std::string& s) {
  if (s == "restore") return OnStop::kRestore;
  if (s == "handover") return OnStop::kHandover;
  return std::nullopt;
}

std::optional<EnforcementMode> ParseEnforcementMode(const std::string& s) {
  for (EnforcementMode m :
       {EnforcementMode::kObserve, EnforcementMode::kDryRun, EnforcementMode::kEnforce})
    if (s == EnforcementModeName(m)) return m;
  return std::nullopt;
}

ExclusiveLimits ExclusiveLimitsOf(const EnforcementConfig& e) {
  return ExclusiveLimits{.shared_pool_min_cores = e.shared_pool_min_cores,
                         .reserved_cpus = e.reserved_cpus,
                         .max_exclusive_fraction = e.max_exclusive_fraction,
                         .keep_cpu0_shared = e.keep_cpu0_shared};
}

std::string ConfigDiagnostic::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

std::string ConfigLoad::Text() const {
  std::string out;
  for (const auto& e : errors) out += e.ToString() + "\n";
  for (const auto& w : warnings) out += "warning: " + w.ToString() + "\n";
  return out;
}

namespace {

// Upper bound of observer.*_entries (4Mi entries: hundreds of MiB at most, far above real needs).
constexpr int64_t kMaxBpfMapEntries = int64_t{1} << 22;

const char* NodeKind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "an undefined value";
  }
}

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++) out += (i ? sep : "") + v[i];
  return out;
}

bool AlnumAt(const std::string& s, size_t i) {
  return std::isalnum(static_cast<unsigned char>(s[i])) != 0;
}

// Kubernetes' syntax of label and annotation keys: [prefix/]name, the prefix a DNS subdomain of
// at most 253 characters, the name 1-63 of [A-Za-z0-9_.-] starting and ending alphanumeric. A key
// outside it can never be on a pod.
std::optional<std::string> KubernetesKeyProblem(const std::string& key) {
  const size_t slash = key.find('/');
  const std::string prefix = slash == std::string::npos ? "" : key.substr(0, slash);
  const std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
  const char* what =
      "is not a Kubernetes label/annotation key ([prefix/]name: name 1-63 of letters, digits, "
      "'-', '_', '.', starting and ending with a letter or digit; prefix a lower-case DNS "
      "subdomain, e.g. app.kubernetes.io/name)";
  if (slash != std::string::npos &&
      (prefix.empty() || prefix.size() > 253 ||
       prefix.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") != std::string::npos))
    return what;
  if (name.empty() || name.size() > 63 || !AlnumAt(name, 0) || !AlnumAt(name, name.size() - 1) ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
          std::string::npos)
    return what;
  return std::nullopt;
}

// One pass over the document; every check appends to errors/warnings instead of stopping.
class Parser {
 public:
  Parser(std::string file, const Topology* machine) : file_(std::move(file)), machine_(machine) {}

  ConfigLoad Run(const std::string& text) {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
      Add(errors_, e.mark.line + 1, "", "YAML syntax error: " + e.msg);
      return Finish();
    }
    if (root.IsNull()) {
      // An empty file is a valid config that keeps every default.
      Validate();
      return Finish();
    }
    if (!root.IsMap()) {
      ErrorAt(root, "", std::string("the config must be a map of keys, got ") + NodeKind(root));
      return Finish();
    }
    CheckKeys(root, "",
              {"listen", "interval", "idle_interval", "state_dir", "enforcement", "observer",
               "controller", "metrics", "kubernetes", "workloads"});
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string key = it->first.Scalar();
      // A copy (cheap, shared): it->second is a member of a temporary, so a reference would dangle.
      const YAML::Node v = it->second;
      if (key == "listen") {
        if (auto s = String(v, key)) {
          ValidateListen(v, key, *s);
          cfg_.listen = *s;
        }
      } else if (key == "interval") {
        if (auto d = Duration(v, key, /*positive=*/true)) {
          if (*d < std::chrono::milliseconds(10))
            ErrorAt(v, key, Quote(v.Scalar()) + " is too short: the interval must be >= 10ms");
          cfg_.interval = *d;
        }
      } else if (key == "idle_interval") {
        if (auto d = Duration(v, key, /*positive=*/true)) {
          cfg_.idle_interval = *d;
          idle_line_ = Line(v);
        }
      } else if (key == "state_dir") {
        if (auto s = String(v, key)) {
          if (s->empty() || (*s)[0] != '/')
            ErrorAt(v, key, Quote(*s) + " must be an absolute path");
          else
            cfg_.state_dir = *s;
        }
      } else if (key == "enforcement") {
        ParseEnforcement(v);
      } else if (key == "observer") {
        ParseObserver(v);
      } else if (key == "controller") {
        ParseController(v);
      } else if (key == "metrics") {
        ParseMetrics(v);
      } else if (key == "kubernetes") {
        ParseKubernetes(v);
      } else if (key == "workloads") {
        ParseWorkloads(v);
      }
    }
    Validate();
    return Finish();
  }

 private:
  int Line(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    return m.is_null() ? 0 : m.line + 1;
  }
  void Add(std::vector<ConfigDiagnostic>& to, int line, const std::string& key,
           const std::string& msg) {
    to.push_back(ConfigDiagnostic{file_, line, key, msg});
  }
  void ErrorAt(const YAML::Node& n, const std::string& key, const std::string& msg) {
    Add(errors_, Line(n), key, msg);
  }
  void WarnAt(int line, const std::string& key, const std::string& msg) {
    Add(warnings_, line, key, msg);
  }

  ConfigLoad Finish() {
    ConfigLoad out;
    out.errors = std::move(errors_);
    out.warnings = std::move(warnings_);
    // Diagnostics in file order read best next to the file.
    auto by_line = [](const ConfigDiagnostic& a, const ConfigDiagnostic& b) {
      return a.line < b.line;
    };
    std::stable_sort(out.errors.begin(), out.errors.end(), by_line);
    std::stable_sort(out.warnings.begin(), out.warnings.end(), by_line);
    if (out.errors.empty()) {
      cfg_.source = file_;
      out.config = std::move(cfg_);
    }
    return out;
  }

  static std::string Sub(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  // Unknown and duplicate keys of a map.
  void CheckKeys(const YAML::Node& map, const std::string& path,
                 const std::vector<std::string>& allowed) {
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) {
        ErrorAt(it->first, path, "keys must be plain names");
        continue;
      }
      const std::string key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
        ErrorAt(it->first, Sub(path, key),
                "unknown key (expected one of: " + Join(allowed, ", ") + ")");
      else if (!seen.insert(key).second)
        ErrorAt(it->first, Sub(path, key), "duplicate key");
    }
  }

  bool IsMap(const YAML::Node& n, const std::string& key) {
    if (n.IsMap()) return true;
    ErrorAt(n, key, std::string("expected a map, got ") + NodeKind(n));
    return false;
  }

  std::optional<std::string> String(const YAML::Node& n, const std::string& key) {
    if (n.IsScalar()) return n.Scalar();
    ErrorAt(n, key, std::string("expected a string, got ") + NodeKind(n));
    return std::nullopt;
  }

  std::optional<int64_t> Int(const YAML::Node& n, const std::string& key, int64_t min,
                             int64_t max) {
    if (!n.IsScalar()) {
      ErrorAt(n, key, std::string("expected an integer, got ") + NodeKind(n));
      return std::nullopt;
    }
    const std::string& s = n.Scalar();
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
      ErrorAt(n, key, Quote(s) + " is not an integer");
      return std::nullopt;
    }
    if (v < min || v > max) {
      ErrorAt(n, key,
              Quote(s) + " must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return v;
  }

  std::optional<double> Number(const YAML::Node& n, const std::string& key) {
    if (!n.IsScalar()) {
      ErrorAt(n, key, std::string("expected a number, got ") + NodeKind(n));
      return std::nullopt;
    }
    const std::string& s = n.Scalar();
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v)) {
      ErrorAt(n, key, Quote(s) + " is not a number");
      return std::nullopt;
    }
    return v;
  }

  // [min, max] or [min, max) when max_open.
  std::optional<double> Fraction(const YAML::Node& n, const std::string& key, double min,
                                 double max, bool max_open) {
    auto parsed = Number(n, key);
    if (!parsed) return std::nullopt;
    const double v = *parsed;
    const std::string& s = n.Scalar();
    if (v < min || v > max || (max_open && v == max)) {
      std::ostringstream range;
      range << "[" << min << ", " << max << (max_open ? ")" : "]");
      ErrorAt(n, key, Quote(s) + " must be in " + range.str());
      return std::nullopt;
    }
    return v;
  }

  std::optional<std::chrono::nanoseconds> Duration(const YAML::Node& n, const std::string& key,
                                                   bool positive) {
    if (!n.IsScalar()) {
      ErrorAt(n, key, std::string("expected a duration like 500ms, got ") + NodeKind(n));
      return std::nullopt;
    }
    auto d = ParseDuration(n.Scalar());
    if (!d) {
      ErrorAt(n, key, d.error().message);
      return std::nullopt;
    }
    if (positive && d->count() <= 0) {
      ErrorAt(n, key, Quote(n.Scalar()) + " must be > 0");
      return std::nullopt;
    }
    return *d;
  }

  void ValidateListen(const YAML::Node& n, const std::string& key, const std::string& s) {
    const size_t colon = s.rfind(':');
    int port = 0;
    bool ok = colon != std::string::npos && colon > 0;
    if (ok) {
      const std::string p = s.substr(colon + 1);
      auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
      ok =
          !p.empty() && ec == std::errc() && end == p.data() + p.size() && port > 0 && port < 65536;
    }
    if (!ok) ErrorAt(n, key, Quote(s) + " must be HOST:PORT, e.g. 127.0.0.1:9750");
  }

  void ParseEnforcement(const YAML::Node& n) {
    const std::string p = "enforcement";
    if (n.IsNull()) return;
    if (!IsMap(n, p)) return;
    CheckKeys(n, p,
              {"mode", "shared_pool_min_cores", "max_exclusive_fraction", "reserved_cpus",
               "keep_cpu0_shared", "allowed_cgroups", "on_stop"});
    auto& e = cfg_.enforcement;
    enforcement_line_ = Line(n);
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.Scalar(), k = Sub(p, key);
      const YAML::Node v = it->second;
      if (key == "mode") {
        if (auto s = String(v, k)) {
          if (auto m = ParseEnforcementMode(*s))
            e.mode = *m;
          else
            ErrorAt(v, k, Quote(*s) + " must be one of: " + kEnforcementModeChoices);
        }
      } else if (key == "on_stop") {
        if (auto s = String(v, k)) {
          if (auto o = ParseOnStop(*s))
            e.on_stop = *o;
          else
            ErrorAt(v, k, Quote(*s) + " must be one of: " + kOnStopChoices);
        }
      } else if (key == "shared_pool_min_cores") {
        if (auto i = Int(v, k, 1, 1 << 20)) e.shared_pool_min_cores = static_cast<int>(*i);
        floor_line_ = Line(v);
      } else if (key == "max_exclusive_fraction") {
        if (auto f = Number(v, k)) {
          // The range ExclusiveCapacity (and so the allocator) accepts.
          if (auto problem = ExclusiveFractionProblem(*f))
            ErrorAt(v, k, Quote(v.Scalar()) + " " + *problem);
          else
            e.max_exclusive_fraction = *f;
        }
        fraction_line_ = Line(v);
      } else if (key == "reserved_cpus") {
        if (!v.IsNull()) {
          if (auto s = String(v, k)) {
            auto cpus = ParseCpuList(*s);
            if (!cpus)
              ErrorAt(v, k, cpus.error().message);
            else
              e.reserved_cpus = *cpus;
          }
        }
        reserved_line_ = Line(v);
      } else if (key == "keep_cpu0_shared") {
        if (auto s = String(v, k)) {
          if (*s == "true" || *s == "false")
            e.keep_cpu0_shared = *s == "true";
          else
            ErrorAt(v, k, Quote(*s) + " must be true or false");
        }
        cpu0_line_ = Line(v);
      } else if (key == "allowed_cgroups") {
        if (v.IsNull()) continue;
        if (!v.IsSequence()) {
          ErrorAt(v, k, "must be a list of cgroup paths, e.g. [\"/kubepods\", \"/batch.slice\"]");
          continue;
        }
        for (size_t i = 0; i < v.size(); i++) {
          const std::string ki = k + "[" + std::to_string(i) + "]";
          if (auto path = String(v[i], ki)) {
            if (path->empty() || (*path)[0] != '/')
              ErrorAt(v[i], ki, Quote(*path) + " must be a cgroup path starting with '/'");
            else
              e.allowed_cgroups.push_back(*path);
          }
        }
      }
    }
  }

  void ParseObserver(const YAML::Node& n) {
    const std::string p = "observer";
    if (n.IsNull()) return;
    if (!IsMap(n, p)) return;
    CheckKeys(n, p,
              {"cgroup_root", "proc_root", "labels_dir", "workload_depth", "max_workloads",
               "bpf_attach", "workload_map", "workload_map_entries", "preempt_map_entries",
               "raw_stamp_entries", "bpf_stats", "map_reads", "bpf_throttle"});
    auto& o = cfg_.observer;
    std::map<std::string, int> lines;  // line of each key given, for the sizing diagnostics
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.Scalar(), k = Sub(p, key);
      const YAML::Node v = it->second;
      lines[key] = Line(v);
      if (key == "cgroup_root" || key == "proc_root" || key == "labels_dir") {
        auto s = v.IsNull() ? std::optional<std::string>("") : String(v, k);
        if (!s) continue;
        if (s->empty() && key == "labels_dir") {
          o.labels_dir.clear();
        } else if (s->empty() || (*s)[0] != '/') {
          ErrorAt(v, k, Quote(*s) + " must be an absolute path");
        } else {
          (key == "cgroup_root" ? o.cgroup_root
           : key == "proc_root" ? o.proc_root
                                : o.labels_dir) = *s;
        }
      } else if (key == "workload_depth") {
        if (auto i = Int(v, k, 1, 32)) o.workload_depth = static_cast<int>(*i);
      } else if (key == "max_workloads") {
        if (auto i = Int(v, k, 1, 1000000)) o.max_workloads = static_cast<int>(*i);
      } else if (key == "bpf_attach") {
        if (auto s = String(v, k)) {
          if (auto a = ParseAttachKind(*s))
            o.bpf.attach = *a;
          else
            ErrorAt(v, k, Quote(*s) + " must be one of: " + kAttachKindChoices);
        }
      } else if (key == "bpf_throttle") {
        if (auto s = String(v, k)) {
          if (auto t = ParseThrottleProbe(*s))
            o.bpf.throttle = *t;
          else
            ErrorAt(v, k, Quote(*s) + " must be one of: " + kThrottleProbeChoices);
        }
      } else if (key == "map_reads") {
        if (auto s = String(v, k)) {
          if (auto m = ParseMapReadMode(*s))
            o.map_reads = *m;
          else
            ErrorAt(v, k, Quote(*s) + " must be one of: " + kMapReadModeChoices);
        }
      } else if (key == "workload_map") {
        if (auto s = String(v, k)) {
          if (auto m = ParseWorkloadMapKind(*s))
            o.bpf.workload_map = *m;
          else
            ErrorAt(v, k, Quote(*s) + " must be one of: " + kWorkloadMapKindChoices);
        }
      } else if (key == "bpf_stats") {
        if (auto s = String(v, k)) {
          if (*s == "true" || *s == "false")
            o.bpf.bpf_stats = *s == "true";
          else
            ErrorAt(v, k, Quote(*s) + " must be true or false");
        }
      } else if (key == "workload_map_entries" || key == "preempt_map_entries" ||
                 key == "raw_stamp_entries") {
        // The upper bound keeps a typo from asking the kernel for gigabytes of map memory.
        if (auto i = Int(v, k, 1, kMaxBpfMapEntries))
          (key == "workload_map_entries"  ? o.bpf.workload_map_entries
           : key == "preempt_map_entries" ? o.bpf.preempt_map_entries
                                          : o.bpf.raw_stamp_entries) = static_cast<uint32_t>(*i);
      }
    }
    SizeBpfMaps(lines);
  }

  // Map sizes not given explicitly follow observer.max_workloads (docs/bpf.md, "Map sizes");
  // a derived size beyond its cap is clamped and said so.
  void SizeBpfMaps(const std::map<std::string, int>& lines) {
    auto& o = cfg_.observer;
    const uint64_t w = static_cast<uint64_t>(o.max_workloads);
    auto line_of = [&](const char* key) {
      auto it = lines.find(key);
      return it == lines.end() ? 0 : it->second;
    };
    auto derive = [&](const char* key, uint64_t per, uint32_t got, uint32_t* into) {
      *into = got;
      if (per * w > got)
        WarnAt(line_of("max_workloads"), "observer.max_workloads",
               std::to_string(w) + " workloads would size observer." + key + " to " +
                   std::to_string(per * w) + " (" + std::to_string(per) +
                   " per workload); clamped to " + std::to_string(got) + ": set observer." + key +
                   " to size it yourself");
    };
    if (!lines.count("workload_map_entries"))
      derive("workload_map_entries", kIdsPerWorkload, WorkloadMapEntriesFor(o.max_workloads),
             &o.bpf.workload_map_entries);
    else if (o.bpf.workload_map_entries < w)
      WarnAt(line_of("workload_map_entries"), "observer.workload_map_entries",
             std::to_string(o.bpf.workload_map_entries) + " is below observer.max_workloads (" +
                 std::to_string(w) +
                 "): the kernel drops the events of cgroups beyond it "
                 "(schedwarden_bpf_dropped_total{reason=\"workload_map_full\"}); remove the key "
                 "to size it from max_workloads");
    if (!lines.count("preempt_map_entries"))
      derive("preempt_map_entries", kPairsPerWorkload, PreemptMapEntriesFor(o.max_workloads),
             &o.bpf.preempt_map_entries);
  }

  void ParseController(const YAML::Node& n) {
    const std::string p = "controller";
    if (n.IsNull()) return;
    if (!IsMap(n, p)) return;
    CheckKeys(n, p,
              {"violation_intervals", "verify_intervals", "improvement_margin", "relief_window",
               "relief_margin", "cooldown", "max_actions_per_minute", "neighbour_cpu_threshold",
               "reclassify_interval", "status_actions"});
    auto& c = cfg_.controller;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.Scalar(), k = Sub(p, key);
      const YAML::Node v = it->second;
      if (key == "violation_intervals") {
        if (auto i = Int(v, k, 1, 1000)) c.violation_intervals = static_cast<int>(*i);
      } else if (key == "verify_intervals") {
        if (auto i = Int(v, k, 1, 1000)) c.verify_intervals = static_cast<int>(*i);
      } else if (key == "improvement_margin") {
        // 0 would keep actions that changed nothing; 1 would demand a p99 of zero.
        if (auto f = Fraction(v, k, 0.0, 1.0, true)) {
          if (*f == 0.0)
            ErrorAt(v, k, Quote(v.Scalar()) + " must be > 0");
          else
            c.improvement_margin = *f;
        }
      } else if (key == "relief_window") {
        if (auto d = Duration(v, k, true)) c.relief_window = *d;
        relief_line_ = Line(v);
      } else if (key == "relief_margin") {
        if (auto f = Fraction(v, k, 0.0, 1.0, true)) c.relief_margin = *f;
      } else if (key == "cooldown") {
        if (auto d = Duration(v, k, false)) c.cooldown = *d;
      } else if (key == "max_actions_per_minute") {
        if (auto i = Int(v, k, 1, 100000)) c.max_actions_per_minute = static_cast<int>(*i);
      } else if (key == "neighbour_cpu_threshold") {
        if (auto f = Fraction(v, k, 0.0, 1e6, false)) c.neighbour_cpu_threshold = *f;
      } else if (key == "reclassify_interval") {
        if (auto d = Duration(v, k, true)) c.reclassify_interval = *d;
      } else if (key == "status_actions") {
        if (auto i = Int(v, k, 0, 10000)) c.status_actions = static_cast<int>(*i);
      }
    }
  }

  void ParseMetrics(const YAML::Node& n) {
    const std::string p = "metrics";
    if (n.IsNull()) return;
    if (!IsMap(n, p)) return;
    CheckKeys(n, p, {"buckets", "basic_auth_file"});
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.Scalar(), k = Sub(p, key);
      const YAML::Node v = it->second;
      if (key == "buckets") {
        if (auto s = String(v, k)) {
          if (*s == "default")
            cfg_.metrics.buckets = MetricBuckets::kDefault;
          else if (*s == "full")
            cfg_.metrics.buckets = MetricBuckets::kFull;
          else
            ErrorAt(v, k, Quote(*s) + " must be one of: " + kMetricBucketsChoices);
        }
      } else if (key == "basic_auth_file") {
        auto s = v.IsNull() ? std::optional<std::string>("") : String(v, k);
        if (s && !s->empty() && (*s)[0] != '/')
          ErrorAt(v, k, Quote(*s) + " must be an absolute path (or \"\" for no authentication)");
        else if (s)
          cfg_.metrics.basic_auth_file = *s;
      }
    }
  }

  void ParseKubernetes(const YAML::Node& n) {
    const std::string p = "kubernetes";
    if (n.IsNull()) return;
    if (!IsMap(n, p)) return;
    CheckKeys(n, p,
              {"runtime_endpoint", "runtime_namespace", "refresh", "timeout", "workload_level",
               "cpu_manager_state", "events", "api_server", "credentials_dir"});
    auto& kc = cfg_.kubernetes;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.Scalar(), k = Sub(p, key);
      const YAML::Node v = it->second;
      if (key == "runtime_endpoint") {
        auto s = v.IsNull() ? std::optional<std::string>("") : String(v, k);
        if (!s) continue;
        if (!s->empty() && s->rfind("unix:///", 0) != 0)
          ErrorAt(v, k, Quote(*s) + " must be \"\" (off) or a unix:///path socket endpoint");
        else
          kc.runtime_endpoint = *s;
      } else if (key == "cpu_manager_state") {
        auto s = v.IsNull() ? std::optional<std::string>("") : String(v, k);
        if (!s) continue;
        if (!s->empty() && (*s)[0] != '/')
          ErrorAt(v, k, Quote(*s) + " must be \"\" (off) or an absolute path");
        else
          kc.cpu_manager_state = *s;
      } else if (key == "events" || key == "api_server" || key == "credentials_dir") {
        ParseKubernetesEvents(key, k, v);
      } else {
        ParseKubernetesRuntime(key, v, k);
      }
    }
    if (kc.timeout > kc.refresh)
      WarnAt(Line(n["timeout"] ? n["timeout"] : n["refresh"]), "kubernetes.timeout",
             Quote(FormatDuration(kc.timeout)) + " is longer than kubernetes.refresh (" +
                 FormatDuration(kc.refresh) + "): a slow runtime is asked again as soon as a " +
                 "listing gives up");
  }

  // How pod identity talks to the runtime (docs/kubernetes.md#identity).
  void ParseKubernetesRuntime(const std::string& key, const YAML::Node& v, const std::string& k) {
    auto& kc = cfg_.kubernetes;
    if (key == "runtime_namespace") {
      auto s = String(v, k);
      if (!s) return;
      if (!IsContainerdNamespace(*s))
        ErrorAt(v, k,
                Quote(*s) + " is not a containerd namespace (letters and digits, separated by " +
                    "single . _ -; at most 76 characters); kubelet's CRI plugin uses \"k8s.io\"");
      else
        kc.runtime_namespace = *s;
    } else if (key == "refresh") {
      if (auto d = Duration(v, k, /*positive=*/true)) kc.refresh = *d;
    } else if (key == "timeout") {
      if (auto d = Duration(v, k, /*positive=*/true)) kc.timeout = *d;
    } else if (key == "workload_level") {
      auto s = String(v, k);
      if (!s) return;
      bool known = false;
      for (auto l : {KubernetesWorkloadLevel::kPod, KubernetesWorkloadLevel::kContainer,
                     KubernetesWorkloadLevel::kDepth})
        if (*s == KubernetesWorkloadLevelName(l)) kc.workload_level = l, known = true;
      if (!known) ErrorAt(v, k, Quote(*s) + " must be one of: " + kKubernetesWorkloadLevelChoices);
    }
  }

  // containerd's identifier rule: [A-Za-z0-9]+ joined by single '.', '_' or '-', 76 at most.
  static bool IsContainerdNamespace(const std::string& s) {
    if (s.empty() || s.size() > 76) return false;
    bool after_sep = true;
    for (char c : s) {
      const bool alnum = std::isalnum(static_cast<unsigned char>(c)) != 0;
      if (!alnum && (after_sep || (c != '.' && c != '_' && c != '-'))) return false;
      after_sep = !alnum;
    }
    return !after_sep;
  }

  void ParseKubernetesEvents(const std::string& key, const std::string& k, const YAML::Node& v) {
    auto& kc = cfg_.kubernetes;
    auto s = String(v, k);
    if (!s) return;
    if (key == "events") {
      if (*s == "true" || *s == "false")
        kc.events = *s == "true";
      else
        ErrorAt(v, k, Quote(*s) + " must be true or false");
    } else if (key == "api_server") {
      if (!s->empty() && s->rfind("https://", 0) != 0 && s->rfind("http://", 0) != 0)
        ErrorAt(v, k, Quote(*s) + " must be \"\" (in-cluster) or an https:// URL");
      else
        kc.api_server = *s;
    } else if (key == "credentials_dir") {
      if (s->empty() || (*s)[0] != '/')
        ErrorAt(v, k, Quote(*s) + " must be an absolute directory path");
      else
        kc.credentials_dir = *s;
    }
  }

  // What ParseRuleFields saw of one workload rule, for the checks across its keys.
  struct RuleSeen {
    bool has_class = false, class_ok = false, has_exclusive = false, has_match = false;
    int exclusive_line = 0, slo_line = 0, cpus_line = 0;
  };

  void ParseWorkloads(const YAML::Node& n) {
    if (n.IsNull()) return;
    if (!n.IsSequence()) {
      ErrorAt(n, "workloads", std::string("expected a list of workloads, got ") + NodeKind(n));
      return;
    }
    std::map<std::string, std::string> names;  // name -> key of first use
    for (size_t i = 0; i < n.size(); i++) {
      const std::string p = "workloads[" + std::to_string(i) + "]";
      const YAML::Node w = n[i];
      if (!IsMap(w, p)) continue;
      WorkloadRule rule;
      rule.line = Line(w);
      CheckKeys(
          w, p,
          {"name", "match", "class", "slo", "exclusive", "exclusive_cpus", "pod_annotations"});
      const RuleSeen seen = ParseRuleFields(w, p, names, rule);
      CheckRule(w, p, seen, rule);
      if (rule.exclusive_cpus)
        exclusive_cpus_lines_.push_back({seen.cpus_line, p, *rule.exclusive_cpus});
      cfg_.workloads.push_back(std::move(rule));
    }
  }

  // Each key of workloads[i] on its own.
  RuleSeen ParseRuleFields(const YAML::Node& w, const std::string& p,
                           std::map<std::string, std::string>& names, WorkloadRule& rule) {
    RuleSeen seen;
    for (auto it = w.begin(); it != w.end(); ++it) {
      const std::string key = it->first.Scalar(), k = Sub(p, key);
      const YAML::Node v = it->second;
      if (key == "name") {
        ParseRuleName(v, k, p, names, rule);
      } else if (key == "match") {
        seen.has_match = true;
        ParseMatch(v, k, rule.match);
      } else if (key == "class") {
        seen.has_class = true;
        if (auto s = String(v, k)) {
          if (auto c = ParseWorkloadClass(*s)) {
            rule.cls = *c;
            seen.class_ok = true;
          } else {
            ErrorAt(v, k, Quote(*s) + " must be one of: " + kWorkloadClassChoices);
          }
        }
      } else if (key == "slo") {
        seen.slo_line = Line(v);
        ParseSlo(v, k, rule);
      } else if (key == "exclusive") {
        seen.has_exclusive = true;
        seen.exclusive_line = Line(v);
        if (auto s = String(v, k)) {
          if (auto e = ParseExclusivePolicy(*s))
            rule.exclusive = *e;
          else
            ErrorAt(v, k, Quote(*s) + " must be one of: " + kExclusivePolicyChoices);
        }
      } else if (key == "exclusive_cpus") {
        seen.cpus_line = Line(v);
        if (auto c = Int(v, k, 1, kMaxExclusiveCpus)) rule.exclusive_cpus = static_cast<int>(*c);
      } else if (key == "pod_annotations") {
        if (auto s = String(v, k)) {
          if (*s == "apply" || *s == "ignore")
            rule.pod_annotations = *s == "apply";
          else
            ErrorAt(v, k, Quote(*s) + " must be one of: apply, ignore");
        }
      }
    }
    return seen;
  }

  void ParseRuleName(const YAML::Node& v, const std::string& k, const std::string& p,
                     std::map<std::string, std::string>& names, WorkloadRule& rule) {
    auto s = String(v, k);
    if (!s) return;
    if (s->empty() ||
        s->find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos)
      ErrorAt(v, k, Quote(*s) + " must be non-empty and use only letters, digits, _ . -");
    else if (auto [at, fresh] = names.emplace(*s, p); !fresh)
      ErrorAt(v, k, "duplicate workload name " + Quote(*s) + " (also " + at->second + ")");
    rule.name = *s;
  }

  void ParseSlo(const YAML::Node& v, const std::string& k, WorkloadRule& rule) {
    if (!IsMap(v, k)) return;
    CheckKeys(v, k, {"runq_p99"});
    if (!v["runq_p99"]) {
      ErrorAt(v, k, "missing runq_p99 (e.g. slo: { runq_p99: 2ms })");
      return;
    }
    if (auto d = Duration(v["runq_p99"], Sub(k, "runq_p99"), true))
      rule.slo_runq_p99 = *d;
    else
      rule.slo_runq_p99 = std::chrono::nanoseconds(-1);  // invalid: reported already
  }

  // The checks across a rule's keys: required keys, objective and exclusive cores by class.
  void CheckRule(const YAML::Node& w, const std::string& p, const RuleSeen& seen,
                 WorkloadRule& rule) {
    if (!w["name"]) ErrorAt(w, p, "missing name");
    if (!seen.has_match) ErrorAt(w, p, "missing match (e.g. match: { cgroup: \"/lc*\" })");
    if (!seen.has_class) ErrorAt(w, p, "missing class");
    if (!seen.class_ok) return;
    const bool lc = rule.cls == WorkloadClass::kLatencyCritical;
    if (lc && !rule.slo_runq_p99 && !seen.slo_line)
      ErrorAt(w, p + ".slo",
              "a latency-critical workload needs an objective (e.g. slo: { runq_p99: 2ms })");
    if (seen.slo_line &&
        (rule.cls == WorkloadClass::kNormal || rule.cls == WorkloadClass::kBestEffort))
      Add(errors_, seen.slo_line, p + ".slo",
          std::string("an objective on a ") + WorkloadClassName(rule.cls) +
              " workload is never watched: use latency-critical or latency-sensitive");
    if (!seen.has_exclusive && lc) rule.exclusive = ExclusivePolicy::kOnInterference;
    if (seen.has_exclusive && !lc && rule.exclusive != ExclusivePolicy::kNever)
      Add(errors_, seen.exclusive_line, p + ".exclusive",
          std::string("exclusive cores are only for latency-critical workloads, this one is ") +
              WorkloadClassName(rule.cls));
    if (seen.cpus_line && rule.exclusive == ExclusivePolicy::kNever)
      Add(errors_, seen.cpus_line, p + ".exclusive_cpus",
          "set, but this workload never gets exclusive cores (exclusive: never)");
  }

  void ParseMatch(const YAML::Node& n, const std::string& p, WorkloadMatch& m) {
    if (!IsMap(n, p)) return;
    CheckKeys(n, p,
              {"cgroup", "comm", "k8s_qos", "labels", "namespace", "pod_labels", "annotations"});
    if (n.size() == 0)
      ErrorAt(n, p,
              "empty match: give at least one of cgroup, comm, k8s_qos, labels, namespace, "
              "pod_labels, annotations");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.Scalar(), k = Sub(p, key);
      const YAML::Node v = it->second;
      if (key == "cgroup") {
        if (auto s = String(v, k)) {
          // Paths are "/"-rooted; "lc*" would silently match nothing.
          if (s->empty() || ((*s)[0] != '/' && (*s)[0] != '*'))
            ErrorAt(v, k, Quote(*s) + " must start with / (cgroup paths are /-rooted, e.g. /lc*)");
          else
            m.cgroup = *s;
        }
      } else if (key == "comm") {
        ParseComm(v, k, m);
      } else if (key == "k8s_qos") {
        if (auto s = String(v, k)) {
          if (auto q = ParsePodQos(*s))
            m.k8s_qos = *q;
          else
            ErrorAt(v, k, Quote(*s) + " must be one of: " + kPodQosConfigChoices);
        }
      } else if (key == "labels") {
        ParseGlobMap(v, k, /*kubernetes_keys=*/false, m.labels);
      } else if (key == "namespace") {
        ParseNamespace(v, k, m);
      } else if (key == "pod_labels") {
        ParseGlobMap(v, k, /*kubernetes_keys=*/true, m.pod_labels);
      } else if (key == "annotations") {
        ParseGlobMap(v, k, /*kubernetes_keys=*/true, m.annotations);
      }
    }
  }

  void ParseComm(const YAML::Node& v, const std::string& k, WorkloadMatch& m) {
    auto s = String(v, k);
    if (!s) return;
    if (s->empty())
      ErrorAt(v, k, "must not be empty");
    else if (s->size() > 15 && s->find_first_of("*?[") == std::string::npos)
      ErrorAt(v, k,
              Quote(*s) +
                  " is longer than 15 characters: the kernel truncates comm, "
                  "so it can never match (use a glob, e.g. " +
                  s->substr(0, 15) + "*)");
    else
      m.comm = *s;
  }

  // A namespace is a DNS label (lower-case letters, digits, '-'): a glob with anything else
  // outside its wildcards could never match.
  void ParseNamespace(const YAML::Node& v, const std::string& k, WorkloadMatch& m) {
    auto s = String(v, k);
    if (!s) return;
    if (s->empty() ||
        s->find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-*?[]!^") != std::string::npos)
      ErrorAt(v, k,
              Quote(*s) +
                  " is not a namespace glob: namespaces are lower-case letters, digits and '-' "
                  "(globs may add * ? [...]), e.g. \"prod-*\"");
    else
      m.namespace_glob = *s;
  }

  // key -> value glob; with kubernetes_keys the keys must be Kubernetes label/annotation keys.
  void ParseGlobMap(const YAML::Node& v, const std::string& k, bool kubernetes_keys,
                    std::map<std::string, std::string>& out) {
    if (v.IsMap() && v.size() == 0) {
      ErrorAt(v, k, "empty map: give at least one key: value glob");
      return;
    }
    if (!IsMap(v, k)) return;
    for (auto l = v.begin(); l != v.end(); ++l) {
      if (!l->first.IsScalar()) {
        ErrorAt(l->first, k, "keys must be plain names");
        continue;
      }
      const std::string name = l->first.Scalar(), lk = Sub(k, name);
      if (kubernetes_keys) {
        if (auto problem = KubernetesKeyProblem(name)) {
          ErrorAt(l->first, lk, Quote(name) + " " + *problem);
          continue;
        }
      }
      if (auto s = String(l->second, lk)) {
        if (out.count(name)) ErrorAt(l->first, lk, "duplicate key");
        out[name] = *s;
      }
    }
  }

  // Cross-field checks that need the whole document (and the machine's topology).
  void Validate() {
    const auto& c = cfg_.controller;
    if (machine_) ValidateCapacity();
    // Acting needs K violated intervals, judging it M more: the relief window must outlast the
    // interval or exclusive cores would be taken back before they were measured.
    if (c.relief_window < cfg_.interval)
      Add(errors_, relief_line_, "controller.relief_window",
          Quote(FormatDuration(c.relief_window)) + " is shorter than the interval (" +
              FormatDuration(cfg_.interval) + ")");
    if (cfg_.idle_interval && *cfg_.idle_interval < cfg_.interval)
      Add(errors_, idle_line_, "idle_interval",
          Quote(FormatDuration(*cfg_.idle_interval)) + " is shorter than the interval (" +
              FormatDuration(cfg_.interval) + "); set it to the interval or longer");
  }

  int LineOfEnforcementKey(const std::string& key) const {
    const int line = key == "reserved_cpus"           ? reserved_line_
                     : key == "shared_pool_min_cores" ? floor_line_
                     : key == "keep_cpu0_shared"      ? cpu0_line_
                                                      : fraction_line_;
    return line ? line : enforcement_line_;
  }

  // The exclusive capacity on this machine, computed by the same ExclusiveCapacity the
  // controller and the allocator use.
  void ValidateCapacity() {
    const ExclusiveCapacity cap(*machine_, ExclusiveLimitsOf(cfg_.enforcement));
    const auto problems = cap.Problems();
    for (const auto& p : problems)
      Add(errors_, LineOfEnforcementKey(p.key), "enforcement." + p.key, p.message);
    if (!problems.empty()) return;
    const bool wants = std::any_of(cfg_.workloads.begin(), cfg_.workloads.end(),
                                   [](auto& w) { return w.exclusive != ExclusivePolicy::kNever; });
    if (cap.max_cores() == 0 && wants)
      WarnAt(LineOfEnforcementKey(cap.binding_key()),
             std::string("enforcement.") + cap.binding_key(),
             "allows no exclusive core on this machine, every exclusive request will be refused (" +
                 cap.Describe() + ")");
    const int tpc = cap.threads_per_core();
    for (const auto& [line, key, cpus] : exclusive_cpus_lines_) {
      const std::string k = key + ".exclusive_cpus";
      if (cpus < tpc) {
        WarnAt(line, k,
               std::to_string(cpus) + " is less than one physical core (" + std::to_string(tpc) +
                   " threads) on this machine: exclusive CPUs are whole cores, so the workload "
                   "stays in the shared pool (use a multiple of " +
                   std::to_string(tpc) + ")");
        continue;
      }
      const int cores = cap.CoresFor(cpus);
      if (cores * tpc != cpus)
        WarnAt(line, k,
               std::to_string(cpus) + " is not a multiple of the " + std::to_string(tpc) +
                   " threads per core: rounded up to " + std::to_string(cores) +
                   " whole core(s) = " + std::to_string(cores * tpc) + " CPUs");
      if (cores > cap.max_cores() && cap.max_cores() > 0)
        WarnAt(line, k,
               std::to_string(cpus) + " is more than the " + std::to_string(cap.max_cpus()) +
                   " exclusive CPUs this machine allows: it will be capped (" + cap.Describe() +
                   ")");
    }
  }

  std::string file_;
  const Topology* machine_;
  Config cfg_;
  std::vector<ConfigDiagnostic> errors_, warnings_;
  int enforcement_line_ = 0, floor_line_ = 0, fraction_line_ = 0, reserved_line_ = 0,
      cpu0_line_ = 0, relief_line_ = 0, idle_line_ = 0;
  struct CpusAt {
    int line;
    std::string key;
    int cpus;
  };
  std::vector<CpusAt> exclusive_cpus_lines_;
};

}  // namespace

ConfigLoad ParseConfig(const std::string& yaml_text, const std::string& file_name,
                       const Topology* machine) {
  return Parser(file_name, machine).Run(yaml_text);
}

ConfigLoad LoadConfigFile(const std::string& path, const Topology* machine) {
  if (auto trusted = CheckTrustedPath(path, "config file");
      !trusted && trusted.error().code != ENOENT) {
    ConfigLoad out;
    out.errors.push_back(ConfigDiagnostic{path, 0, "", trusted.error().message});
    return out;
  }
  auto text = ReadFile(path);
  if (!text) {
    ConfigLoad out;
    out.errors.push_back(
        ConfigDiagnostic{path, 0, "", "cannot read the config file: " + text.error().message});
    return out;
  }
  return ParseConfig(*text, path, machine);
}

ConfigLoad LoadDefaultConfig(const Topology* machine) {
  return ParseConfig(DefaultConfigYaml(), "<embedded default>", machine);
}

CheckConfigReport CheckConfig(const std::string& path, const Topology* machine) {
  CheckConfigReport r;
  if (!PathExists(path)) {
    r.exit_code = 2;
    r.text = path + ": cannot read the config file: no such file\n";
    return r;
  }
  ConfigLoad load = LoadConfigFile(path, machine);
  r.text = load.Text();
  if (!load.config) {
    r.exit_code = load.errors.size() == 1 && load.errors[0].line == 0 &&
                          load.errors[0].message.rfind("cannot read", 0) == 0
                      ? 2
                      : 1;
    r.text += std::to_string(load.errors.size()) + " error(s) in " + path + "\n";
    return r;
  }
  const Config& c = *load.config;
  r.text += path + ": OK (" + std::to_string(c.workloads.size()) + " workload rules, mode " +
            EnforcementModeName(c.enforcement.mode) + ", interval " + FormatDuration(c.interval) +
            ")\n";
  return r;
}

}  // namespace sw

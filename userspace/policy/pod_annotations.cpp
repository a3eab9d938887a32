#include "policy/pod_annotations.h"

#include <charconv>
#include <cstdio>

#include "common/duration.h"

namespace sw {

namespace {

// Annotation values come from whoever may create pods: quoted, non-printable bytes escaped and
// cut at 64 bytes before they reach a log line or the status file.
std::string Shown(const std::string& v) {
  std::string out = "\"";
  for (size_t i = 0; i < v.size() && i < 64; i++) {
    const unsigned char c = static_cast<unsigned char>(v[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + (v.size() > 64 ? "...\"" : "\"");
}

// Each annotation parsed on its own; nullopt (with a problem) when its value is bad.
struct Parsed {
  std::optional<WorkloadClass> cls;
  std::optional<std::chrono::nanoseconds> slo;
  std::optional<ExclusivePolicy> exclusive;
  std::optional<int> cpus;
};

Parsed ParseValues(const std::map<std::string, std::string>& a,
                   std::vector<AnnotationProblem>& problems) {
  Parsed p;
  auto bad = [&](const std::string& key, const std::string& v, const std::string& msg) {
    problems.push_back({key, v, Shown(v) + " " + msg});
  };
  for (const auto& [key, v] : a) {
    if (key.rfind(kAnnotationPrefix, 0) != 0) continue;
    if (key == kAnnotationClass) {
      if (!(p.cls = ParseWorkloadClass(v)))
        bad(key, v, std::string("must be one of: ") + kWorkloadClassChoices);
    } else if (key == kAnnotationRunqP99) {
      auto d = ParseDuration(v);
      if (!d)
        bad(key, v, "is not a duration: a number and a unit (ns, us, ms, s, m, h), e.g. 2ms");
      else if (d->count() <= 0)
        bad(key, v, "must be > 0");
      else
        p.slo = *d;
    } else if (key == kAnnotationExclusive) {
      if (!(p.exclusive = ParseExclusivePolicy(v)))
        bad(key, v, std::string("must be one of: ") + kExclusivePolicyChoices);
    } else if (key == kAnnotationExclusiveCpus) {
      int n = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > kMaxExclusiveCpus)
        bad(key, v, "must be an integer between 1 and " + std::to_string(kMaxExclusiveCpus));
      else
        p.cpus = n;
    } else {
      problems.push_back({key, v,
                          "unknown annotation (expected one of: " + std::string(kAnnotationClass) +
                              ", " + kAnnotationRunqP99 + ", " + kAnnotationExclusive + ", " +
                              kAnnotationExclusiveCpus + ")"});
    }
  }
  return p;
}

bool Watches(WorkloadClass c) {
  return c == WorkloadClass::kLatencyCritical || c == WorkloadClass::kLatencySensitive;
}

// The config's checks across a rule's keys (CheckRule), on the merged values.
Annotated Merge(const std::map<std::string, std::string>& a, const AnnotationBase& base,
                const Parsed& p, bool use_class) {
  Annotated out{base.cls, base.slo_runq_p99, base.exclusive, base.exclusive_cpus, {}, {}};
  auto applied = [&](const char* key) {
    out.applied.push_back(std::string(key) + "=" + a.at(key));
  };
  auto refuse = [&](const char* key, const std::string& msg) {
    out.problems.push_back({key, a.at(key), Shown(a.at(key)) + " " + msg});
  };
  if (use_class && p.cls) {
    if (*p.cls != base.cls) {
      out.cls = *p.cls;
      const bool lc = out.cls == WorkloadClass::kLatencyCritical;
      out.exclusive = lc ? ExclusivePolicy::kOnInterference : ExclusivePolicy::kNever;
      out.exclusive_cpus.reset();
      if (!Watches(out.cls)) out.slo_runq_p99.reset();
    }
    applied(kAnnotationClass);
  }
  if (p.slo) {
    if (!Watches(out.cls)) {
      refuse(kAnnotationRunqP99, std::string("is an objective on a ") + WorkloadClassName(out.cls) +
                                     " workload, which is never watched: use class "
                                     "latency-critical or latency-sensitive");
    } else {
      out.slo_runq_p99 = p.slo;
      applied(kAnnotationRunqP99);
    }
  }
  if (p.exclusive) {
    if (out.cls != WorkloadClass::kLatencyCritical && *p.exclusive != ExclusivePolicy::kNever) {
      refuse(kAnnotationExclusive,
             std::string("asks for exclusive cores, which are only for latency-critical "
                         "workloads; this one is ") +
                 WorkloadClassName(out.cls));
    } else {
      out.exclusive = *p.exclusive;
      applied(kAnnotationExclusive);
    }
  }
  if (p.cpus) {
    if (out.exclusive == ExclusivePolicy::kNever) {
      refuse(kAnnotationExclusiveCpus, "is set, but this workload never gets exclusive cores");
    } else {
      out.exclusive_cpus = p.cpus;
      applied(kAnnotationExclusiveCpus);
    }
  }
  return out;
}

}  // namespace

std::string AnnotationProblem::ToString(const PodMeta& pod) const {
  return "pod " + pod.namespace_name + "/" + pod.name + ": annotation " + annotation + ": " +
         message + "; ignored";
}

Annotated ApplyPodAnnotations(const std::map<std::string, std::string>& annotations,
                              const AnnotationBase& base) {
  std::vector<AnnotationProblem> parse_problems;
  const Parsed p = ParseValues(annotations, parse_problems);
  Annotated out = Merge(annotations, base, p, true);
  if (p.cls && out.cls == WorkloadClass::kLatencyCritical && !out.slo_runq_p99) {
    // latency-critical without an objective is a config error; here the class is ignored.
    out = Merge(annotations, base, p, false);
    out.problems.insert(
        out.problems.begin(),
        {kAnnotationClass, annotations.at(kAnnotationClass),
         Shown(annotations.at(kAnnotationClass)) + " needs an objective: add " +
             kAnnotationRunqP99 + " (e.g. 2ms) or match a config rule with slo.runq_p99"});
  }
  out.problems.insert(out.problems.begin(), parse_problems.begin(), parse_problems.end());
  return out;
}

}  // namespace sw

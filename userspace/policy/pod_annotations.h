// Per-pod overrides of a workload's classification: the schedwarden.io/* annotations of the
// Kubernetes pod behind it (docs/kubernetes.md, "Classes from pod metadata"). Values are parsed
// with the config's own parsers and checked with the config's own rules; a bad one is reported
// (AnnotationProblem) and ignored, the rest still apply. Pure: no I/O, no exceptions.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "k8s/pod_metadata.h"

namespace sw {

inline constexpr const char* kAnnotationPrefix = "schedwarden.io/";
inline constexpr const char* kAnnotationClass = "schedwarden.io/class";
inline constexpr const char* kAnnotationRunqP99 = "schedwarden.io/runq-p99";
inline constexpr const char* kAnnotationExclusive = "schedwarden.io/exclusive";
inline constexpr const char* kAnnotationExclusiveCpus = "schedwarden.io/exclusive-cpus";

struct AnnotationProblem {
  std::string annotation;  // "schedwarden.io/runq-p99"
  std::string value;       // as written on the pod
  std::string message;     // what is wrong and what is allowed
  bool operator==(const AnnotationProblem&) const = default;
  // "pod shop/web: annotation schedwarden.io/runq-p99: \"2 ms\" ...; ignored"
  std::string ToString(const PodMeta& pod) const;
};

// The classification after the pod's annotations, field by field on top of `base` (the first
// matching rule's, or the unmatched default): class, then objective, exclusivity and its size.
// A class annotation that changes the class drops the rule's exclusivity (it was meant for the
// rule's class) and, for normal and best-effort, its objective.
struct Annotated {
  WorkloadClass cls = WorkloadClass::kNormal;
  std::optional<std::chrono::nanoseconds> slo_runq_p99;
  ExclusivePolicy exclusive = ExclusivePolicy::kNever;
  std::optional<int> exclusive_cpus;
  std::vector<std::string> applied;  // "schedwarden.io/class=latency-critical", in key order
  std::vector<AnnotationProblem> problems;
};
struct AnnotationBase {
  WorkloadClass cls = WorkloadClass::kNormal;
  std::optional<std::chrono::nanoseconds> slo_runq_p99;
  ExclusivePolicy exclusive = ExclusivePolicy::kNever;
  std::optional<int> exclusive_cpus;
};
Annotated ApplyPodAnnotations(const std::map<std::string, std::string>& annotations,
                              const AnnotationBase& base);

}  // namespace sw

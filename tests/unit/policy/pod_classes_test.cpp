// Classes from Kubernetes pod metadata: rules on namespace, pod labels and annotations, and the
// schedwarden.io/* annotations over the matched rule (docs/kubernetes.md, "Classes from pod
// metadata"), with StaticPodMetadataSource standing in for the runtime.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "export/render.h"
#include "policy/classifier.h"
#include "policy/controller.h"
#include "policy/pod_annotations.h"
#include "policy_fakes.h"
#include "support/machines.h"

namespace sw {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kUid = "8f3c1e2a-0000-4000-8000-000000000001";
const std::string kPodPath = "/kubepods/burstable/pod8f3c1e2a-0000-4000-8000-000000000001";

std::vector<WorkloadRule> Rules(const std::string& yaml) {
  ConfigLoad load = ParseConfig(yaml, "test.yaml", nullptr);
  EXPECT_TRUE(load.config) << load.Text();
  return load.config ? load.config->workloads : std::vector<WorkloadRule>{};
}

PodMeta Pod(std::map<std::string, std::string> annotations = {},
            std::map<std::string, std::string> labels = {{"app", "web"}}) {
  PodMeta p;
  p.uid = kUid;
  p.namespace_name = "shop-prod";
  p.name = "web-0";
  p.qos = PodQos::kBurstable;
  p.labels = std::move(labels);
  p.annotations = std::move(annotations);
  return p;
}

const char* kRules = R"(workloads:
  - name: shop-web
    match: { namespace: "shop-*", pod_labels: { app: "web*" } }
    class: latency-sensitive
    slo: { runq_p99: 5ms }
  - name: pinned
    match: { annotations: { example.com/tier: gold } }
    class: best-effort
    pod_annotations: ignore
)";

TEST(PodClasses, NamespaceAndPodLabelRulesMatchOnlyKnownPods) {
  StaticPodMetadataSource pods;
  Classifier c(Rules(kRules), nullptr, nullptr, &pods);
  // Unknown pod: no pod rule matches, and the container cgroup of the same pod neither.
  EXPECT_EQ(c.Classify(kPodPath).rule, -1);
  pods.Set(Pod());
  Classification got = c.Classify(kPodPath);
  EXPECT_EQ(got.rule_name, "shop-web");
  EXPECT_EQ(got.cls, WorkloadClass::kLatencySensitive);
  EXPECT_EQ(got.pod, "shop-prod/web-0");
  EXPECT_EQ(c.Classify(kPodPath + "/0123abcd").rule_name, "shop-web");  // a container of it
  PodMeta other = Pod({}, {{"app", "db"}});
  pods.Set(other);
  EXPECT_EQ(c.Classify(kPodPath).rule, -1);  // label glob no longer matches
  other = Pod({}, {});
  other.namespace_name = "kube-system";
  pods.Set(other);
  EXPECT_EQ(c.Classify(kPodPath).rule, -1);
  // Without a source the pod rules never match (and nothing crashes).
  Classifier none(Rules(kRules), nullptr, nullptr, nullptr);
  EXPECT_EQ(none.Classify(kPodPath).rule, -1);
}

TEST(PodClasses, GatherTakesThePodOnceAndClassifyIsPure) {
  StaticPodMetadataSource pods;
  pods.Set(Pod());
  Classifier c(Rules(kRules), nullptr, nullptr, &pods);
  WorkloadFacts f = c.Gather(kPodPath);
  ASSERT_TRUE(f.pod);
  EXPECT_EQ(f.pod->name, "web-0");
  pods.Remove(kUid);  // Classify reads the facts, not the source
  EXPECT_EQ(c.Classify(kPodPath, f).rule_name, "shop-web");
  EXPECT_EQ(c.Classify(kPodPath, WorkloadFacts{}).rule, -1);
}

TEST(PodClasses, AnnotationsOverrideTheMatchedRuleFieldByField) {
  StaticPodMetadataSource pods;
  Classifier c(Rules(kRules), nullptr, nullptr, &pods);
  // Objective only: the rule's class stays, the objective is the pod's.
  pods.Set(Pod({{"schedwarden.io/runq-p99", "2ms"}}));
  Classification got = c.Classify(kPodPath);
  EXPECT_EQ(got.rule_name, "shop-web");
  EXPECT_EQ(got.cls, WorkloadClass::kLatencySensitive);
  EXPECT_EQ(got.slo_runq_p99, 2ms);
  EXPECT_THAT(got.annotations, ElementsAre("schedwarden.io/runq-p99=2ms"));
  EXPECT_TRUE(got.annotation_problems.empty());
  // Class latency-critical: the rule's objective carries over, exclusivity is the class default.
  pods.Set(Pod({{"schedwarden.io/class", "latency-critical"}}));
  got = c.Classify(kPodPath);
  EXPECT_EQ(got.cls, WorkloadClass::kLatencyCritical);
  EXPECT_EQ(got.slo_runq_p99, 5ms);
  EXPECT_EQ(got.exclusive, ExclusivePolicy::kOnInterference);
  // Every annotation.
  pods.Set(Pod({{"schedwarden.io/class", "latency-critical"},
                {"schedwarden.io/runq-p99", "1500us"},
                {"schedwarden.io/exclusive", "always"},
                {"schedwarden.io/exclusive-cpus", "4"}}));
  got = c.Classify(kPodPath);
  EXPECT_EQ(got.cls, WorkloadClass::kLatencyCritical);
  EXPECT_EQ(got.slo_runq_p99, 1500us);
  EXPECT_EQ(got.exclusive, ExclusivePolicy::kAlways);
  EXPECT_EQ(got.exclusive_cpus, 4);
  EXPECT_EQ(got.annotations.size(), 4u);
  // Class best-effort drops the rule's objective (never watched there).
  pods.Set(Pod({{"schedwarden.io/class", "best-effort"}}));
  got = c.Classify(kPodPath);
  EXPECT_EQ(got.cls, WorkloadClass::kBestEffort);
  EXPECT_FALSE(got.slo_runq_p99);
}

TEST(PodClasses, UnmatchedPodsTakeAnnotationsOnTheNormalDefault) {
  StaticPodMetadataSource pods;
  PodMeta p =
      Pod({{"schedwarden.io/class", "latency-critical"}, {"schedwarden.io/runq-p99", "2ms"}}, {});
  p.namespace_name = "other";
  pods.Set(p);
  Classifier c(Rules(kRules), nullptr, nullptr, &pods);
  Classification got = c.Classify(kPodPath);
  EXPECT_EQ(got.rule, -1);
  EXPECT_EQ(got.cls, WorkloadClass::kLatencyCritical);
  EXPECT_EQ(got.slo_runq_p99, 2ms);
  EXPECT_EQ(got.exclusive, ExclusivePolicy::kOnInterference);
}

TEST(PodClasses, ARuleWithPodAnnotationsIgnoreWins) {
  StaticPodMetadataSource pods;
  pods.Set(Pod({{"example.com/tier", "gold"},
                {"schedwarden.io/class", "latency-critical"},
                {"schedwarden.io/runq-p99", "bogus"}},
               {}));
  Classifier c(Rules(kRules), nullptr, nullptr, &pods);
  Classification got = c.Classify(kPodPath);
  EXPECT_EQ(got.rule_name, "pinned");
  EXPECT_EQ(got.cls, WorkloadClass::kBestEffort);
  EXPECT_TRUE(got.annotations.empty());
  EXPECT_TRUE(got.annotation_problems.empty());  // not read at all: nothing to report
}

TEST(PodClasses, BadAnnotationsAreIgnoredWithAClearProblemAndTheRestApply) {
  StaticPodMetadataSource pods;
  pods.Set(Pod({{"schedwarden.io/class", "gold"},
                {"schedwarden.io/runq-p99", "2 ms"},
                {"schedwarden.io/exclusive", "sometimes"},
                {"schedwarden.io/exclusive-cpus", "-1"},
                {"schedwarden.io/clas", "latency-critical"}}));
  Classifier c(Rules(kRules), nullptr, nullptr, &pods);
  Classification got = c.Classify(kPodPath);
  EXPECT_EQ(got.rule_name, "shop-web");  // the rule, untouched
  EXPECT_EQ(got.cls, WorkloadClass::kLatencySensitive);
  EXPECT_EQ(got.slo_runq_p99, 5ms);
  ASSERT_EQ(got.annotation_problems.size(), 5u);
  std::vector<std::string> lines;
  for (const auto& p : got.annotation_problems) lines.push_back(p.ToString(Pod()));
  EXPECT_THAT(
      lines,
      ElementsAre("pod shop-prod/web-0: annotation schedwarden.io/clas: unknown annotation "
                  "(expected one of: schedwarden.io/class, schedwarden.io/runq-p99, "
                  "schedwarden.io/exclusive, schedwarden.io/exclusive-cpus); ignored",
                  "pod shop-prod/web-0: annotation schedwarden.io/class: \"gold\" must be "
                  "one of: latency-critical, latency-sensitive, normal, best-effort; ignored",
                  "pod shop-prod/web-0: annotation schedwarden.io/exclusive: \"sometimes\" "
                  "must be one of: never, on-interference, always; ignored",
                  "pod shop-prod/web-0: annotation schedwarden.io/exclusive-cpus: \"-1\" "
                  "must be an integer between 1 and 1048576; ignored",
                  "pod shop-prod/web-0: annotation schedwarden.io/runq-p99: \"2 ms\" is not "
                  "a duration: a number and a unit (ns, us, ms, s, m, h), e.g. 2ms; ignored"));
}

TEST(PodClasses, AnnotationsFollowTheConfigsRulesAcrossKeys) {
  const AnnotationBase normal;  // unmatched: normal, no objective, never exclusive
  // latency-critical without any objective: the class is ignored (as the config refuses it).
  Annotated a = ApplyPodAnnotations({{"schedwarden.io/class", "latency-critical"}}, normal);
  EXPECT_EQ(a.cls, WorkloadClass::kNormal);
  ASSERT_EQ(a.problems.size(), 1u);
  EXPECT_THAT(a.problems[0].message, HasSubstr("needs an objective: add schedwarden.io/runq-p99"));
  // An objective on a normal workload is never watched.
  a = ApplyPodAnnotations({{"schedwarden.io/runq-p99", "2ms"}}, normal);
  EXPECT_FALSE(a.slo_runq_p99);
  ASSERT_EQ(a.problems.size(), 1u);
  EXPECT_THAT(a.problems[0].message, HasSubstr("objective on a normal workload"));
  // Exclusive cores only for latency-critical; a size only with exclusivity.
  a = ApplyPodAnnotations({{"schedwarden.io/class", "latency-sensitive"},
                           {"schedwarden.io/exclusive", "always"},
                           {"schedwarden.io/exclusive-cpus", "2"}},
                          normal);
  EXPECT_EQ(a.cls, WorkloadClass::kLatencySensitive);
  EXPECT_EQ(a.exclusive, ExclusivePolicy::kNever);
  EXPECT_FALSE(a.exclusive_cpus);
  ASSERT_EQ(a.problems.size(), 2u);
  EXPECT_THAT(a.problems[0].message, HasSubstr("only for latency-critical workloads; this one is "
                                               "latency-sensitive"));
  EXPECT_THAT(a.problems[1].message, HasSubstr("never gets exclusive cores"));
  // exclusive: never on a latency-critical rule is fine, and then a size is not.
  const AnnotationBase lc{WorkloadClass::kLatencyCritical, 2ms, ExclusivePolicy::kOnInterference,
                          4};
  a = ApplyPodAnnotations({{"schedwarden.io/exclusive", "never"}}, lc);
  EXPECT_EQ(a.exclusive, ExclusivePolicy::kNever);
  EXPECT_EQ(a.exclusive_cpus, 4);  // kept but unused, as with a rule's exclusive: never
  EXPECT_TRUE(a.problems.empty());
  // Other prefixes are not ours and are never reported.
  a = ApplyPodAnnotations({{"kubectl.kubernetes.io/last-applied-configuration", "{}"}}, normal);
  EXPECT_TRUE(a.problems.empty());
  EXPECT_TRUE(a.applied.empty());
}

TEST(PodClasses, ValuesAreQuotedSafelyAndCut) {
  std::string evil = "latency-critical\n\x1b[31m" + std::string(200, 'x');
  Annotated a = ApplyPodAnnotations({{"schedwarden.io/class", evil}}, AnnotationBase{});
  ASSERT_EQ(a.problems.size(), 1u);
  const std::string& m = a.problems[0].message;
  EXPECT_EQ(m.find('\n'), std::string::npos);
  EXPECT_EQ(m.find('\x1b'), std::string::npos);
  EXPECT_THAT(m, HasSubstr("\"latency-critical\\x0a\\x1b[31mxxx"));
  EXPECT_THAT(m, HasSubstr("...\" must be one of"));
  EXPECT_LT(m.size(), 200u);
}

// The controller reports a bad annotation once per change (not every reclassification), shows it
// in status and as schedwarden_pod_annotation_ignored, and takes a fixed value at the next
// reclassification.
TEST(PodClasses, ControllerReportsBadAnnotationsOncePerChange) {
  ConfigLoad load = ParseConfig(std::string("interval: 500ms\ncontroller: { reclassify_interval: "
                                            "1s }\n") +
                                    kRules,
                                "t.yaml", test::SyntheticMachine(4));
  ASSERT_TRUE(load.config) << load.Text();
  StaticPodMetadataSource pods;
  pods.Set(Pod({{"schedwarden.io/runq-p99", "fast"}}));
  FakeClock clock;
  MemorySink sink;
  test::FakeActuator act(4);
  test::Machine m;
  Classifier cls(load.config->workloads, nullptr, nullptr, &pods);
  Controller ctl(*load.config, cls, &act, &sink, clock, *test::SyntheticMachine(4));
  test::ControllerFeed feed;
  m.Add(kPodPath);
  auto step = [&] {
    clock.Advance(500ms);
    m.snap.taken_at = clock.Monotonic();
    return feed.Step(ctl, m.snap);
  };
  step();
  EXPECT_THAT(ctl.TakeNotices(),
              ElementsAre("workload " + kPodPath +
                          ": pod shop-prod/web-0: annotation schedwarden.io/runq-p99: \"fast\" is "
                          "not a duration: a number and a unit (ns, us, ms, s, m, h), e.g. 2ms; "
                          "ignored"));
  for (int i = 0; i < 6; i++) step();  // reclassified 3 times: same problem, no new line
  EXPECT_TRUE(ctl.TakeNotices().empty());
  StatusModel st = ctl.Status();
  ASSERT_EQ(st.workloads.size(), 1u);
  EXPECT_EQ(st.workloads[0].pod, "shop-prod/web-0");
  EXPECT_EQ(st.workloads[0].slo_runq_p99_ns, 5000000);  // the rule's
  EXPECT_THAT(st.workloads[0].annotation_problems,
              ElementsAre(HasSubstr("schedwarden.io/runq-p99: \"fast\" is not a duration")));
  auto back = StatusFromJson(StatusToJson(st));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->workloads[0].annotation_problems, st.workloads[0].annotation_problems);
  EXPECT_THAT(FormatStatusTable(st), HasSubstr("POD ANNOTATIONS IGNORED"));
  PublishedView view;
  view.status = st;
  EXPECT_THAT(RenderMetricsText(view, RenderOptions{}),
              HasSubstr("schedwarden_pod_annotation_ignored{workload=\"" + kPodPath +
                        "\",annotation=\"schedwarden.io/runq-p99\"} 1"));

  pods.Set(Pod({{"schedwarden.io/runq-p99", "3ms"}}));
  for (int i = 0; i < 3; i++) step();
  EXPECT_THAT(ctl.TakeNotices(),
              ElementsAre("workload " + kPodPath +
                          ": pod shop-prod/web-0: schedwarden.io annotations valid again"));
  st = ctl.Status();
  EXPECT_EQ(st.workloads[0].slo_runq_p99_ns, 3000000);
  EXPECT_THAT(st.workloads[0].annotations, ElementsAre("schedwarden.io/runq-p99=3ms"));
  EXPECT_TRUE(st.workloads[0].annotation_problems.empty());
  view.status = st;
  EXPECT_THAT(RenderMetricsText(view, RenderOptions{}),
              Not(HasSubstr("schedwarden_pod_annotation_ignored{")));
}

// kubelet's CPU manager assigns a CPU the agent holds exclusively: the holder gives its CPUs
// back at the next Step, with the reason recorded; CPUs kubelet did not take change nothing.
TEST(KubeletCpus, AHolderOfACpuKubeletAssignedReleasesItAtTheNextInterval) {
  ConfigLoad load = ParseConfig(R"(interval: 500ms
workloads:
  - name: exec
    match: { cgroup: "/exec" }
    class: latency-critical
    slo: { runq_p99: 2ms }
    exclusive: always
    exclusive_cpus: 1
)",
                                "t.yaml", test::SyntheticMachine(4));
  ASSERT_TRUE(load.config) << load.Text();
  FakeClock clock;
  MemorySink sink;
  test::FakeActuator act(4);
  test::Machine m;
  Classifier cls(load.config->workloads, nullptr, nullptr);
  Controller ctl(*load.config, cls, &act, &sink, clock, *test::SyntheticMachine(4));
  test::ControllerFeed feed;
  m.Add("/exec");
  auto step = [&] {
    clock.Advance(500ms);
    m.snap.taken_at = clock.Monotonic();
    return feed.Step(ctl, m.snap);
  };
  step();
  ASSERT_EQ(act.held.at("/exec"), (CpuSet{3}));
  ctl.SetKubeletCpus({{1, "container db of pod p1"}, {2, "container db of pod p1"}});
  EXPECT_TRUE(step().empty());  // not its CPUs
  ctl.SetKubeletCpus({{3, "container app of pod 6f1a2b3c"}});
  std::vector<Decision> d = step();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].action, action::kRelease);
  EXPECT_EQ(d[0].result, result::kApplied);
  EXPECT_EQ(d[0].cpus, "3");
  EXPECT_EQ(d[0].reason,
            "kubelet's CPU manager assigned CPU(s) 3 to container app of pod 6f1a2b3c "
            "(Guaranteed): exclusive CPUs given back");
  EXPECT_FALSE(act.held.count("/exec"));
  EXPECT_EQ(ctl.Status().workloads[0].exclusive_count, 0);
}

}  // namespace
}  // namespace sw

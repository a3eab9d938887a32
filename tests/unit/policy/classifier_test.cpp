// Classification on fake cgroup and /proc trees: globs, process names, Kubernetes QoS naming of
// both cgroup drivers, labels, first match wins, unmatched = normal.
#include "policy/classifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_tree.h"

namespace sw {
namespace {

std::vector<WorkloadRule> Rules(const std::string& yaml) {
  ConfigLoad load = ParseConfig(yaml, "test.yaml", nullptr);
  EXPECT_TRUE(load.config) << load.Text();
  return load.config ? load.config->workloads : std::vector<WorkloadRule>{};
}

TEST(Labels, DirectorySourceInheritsAndOverrides) {
  test::TempTree t;
  t.Write("labels/kubepods/pod1/labels", "# pod annotations\ncpu_hint=exclusive\ntier: gold\n");
  t.Write("labels/kubepods/pod1/ctr/labels", "tier=silver\n");
  LabelDirectorySource src(t.Path("labels"));
  auto l = src.Labels("/kubepods/pod1/ctr");
  EXPECT_EQ(l.at("cpu_hint"), "exclusive");
  EXPECT_EQ(l.at("tier"), "silver");
  EXPECT_EQ(src.Labels("/kubepods/pod1").at("tier"), "gold");
  EXPECT_TRUE(src.Labels("/other").empty());
}

TEST(ProcessNames, ReadsCgroupProcsRecursivelyAndSkipsVanished) {
  test::TempTree t;
  t.Write("cg/cpu/cgroup.procs", "1\n");
  t.Write("cg/cpu/web/cgroup.procs", "100\n101\n");
  t.Write("cg/cpu/web/worker/cgroup.procs", "102\n999\n");  // 999 has exited
  t.Write("cg/cpu/web/cpu.stat", "nr_periods 0\n");
  t.Write("proc/100/comm", "nginx\n");
  t.Write("proc/101/comm", "nginx\n");
  t.Write("proc/102/comm", "php-fpm\n");
  CgroupProcessNames names(t.Path("cg/cpu"), t.Path("proc"));
  EXPECT_EQ(names.ProcessNames("/web"), (std::vector<std::string>{"nginx", "php-fpm"}));
  EXPECT_TRUE(names.ProcessNames("/gone").empty());
  CgroupProcessNames capped(t.Path("cg/cpu"), t.Path("proc"), /*max_pids=*/1);
  EXPECT_EQ(capped.ProcessNames("/web").size(), 1u);
}

class ClassifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t.Write("cpu/lc-web/cgroup.procs", "10\n");
    t.Write("cpu/misc/cgroup.procs", "20\n");
    t.Write("proc/10/comm", "nginx\n");
    t.Write("proc/20/comm", "redis-server\n");
  }
  test::TempTree t;
};

TEST_F(ClassifierTest, FirstMatchWinsAndUnmatchedIsNormal) {
  CgroupProcessNames names(t.Path("cpu"), t.Path("proc"));
  StaticLabelSource labels;
  labels.Set("/mesos/exec1", {{"cpu_hint", "exclusive"}});
  Classifier c(Rules(R"(workloads:
  - name: web
    match: { cgroup: "/lc*" }
    class: latency-critical
    slo: { runq_p99: 2ms }
  - name: redis
    match: { comm: "redis*" }
    class: latency-sensitive
  - name: lc-shadow
    match: { cgroup: "/lc-web" }
    class: best-effort
  - name: hinted
    match: { labels: { cpu_hint: exclusive } }
    class: latency-critical
    slo: { runq_p99: 1ms }
    exclusive: always
  - name: be-pods
    match: { k8s_qos: besteffort }
    class: best-effort
  - name: guaranteed-nginx
    match: { k8s_qos: guaranteed, cgroup: "/kubepods*" }
    class: latency-sensitive
)"),
               &names, &labels);
  Classification web = c.Classify("/lc-web");
  EXPECT_EQ(web.cls, WorkloadClass::kLatencyCritical);
  EXPECT_EQ(web.rule_name, "web");  // not lc-shadow, which also matches
  EXPECT_EQ(web.rule, 0);
  EXPECT_EQ(web.slo_runq_p99, std::chrono::milliseconds(2));
  EXPECT_EQ(web.exclusive, ExclusivePolicy::kOnInterference);

  EXPECT_EQ(c.Classify("/misc").rule_name, "redis");
  EXPECT_EQ(c.Classify("/misc").cls, WorkloadClass::kLatencySensitive);

  Classification hinted = c.Classify("/mesos/exec1");
  EXPECT_EQ(hinted.rule_name, "hinted");
  EXPECT_EQ(hinted.exclusive, ExclusivePolicy::kAlways);
  EXPECT_EQ(c.Classify("/mesos/cpu_hint=exclusive").rule_name, "hinted");  // label in the path

  EXPECT_EQ(c.Classify("/kubepods/besteffort/pod1/c").cls, WorkloadClass::kBestEffort);
  EXPECT_EQ(c.Classify("/kubepods.slice/kubepods-besteffort.slice/x").cls,
            WorkloadClass::kBestEffort);
  EXPECT_EQ(c.Classify("/kubepods/pod9/c").rule_name, "guaranteed-nginx");
  EXPECT_EQ(c.Classify("/kubepods.slice/kubepods-pod9.slice").rule_name, "guaranteed-nginx");

  Classification none = c.Classify("/kubepods/burstable/pod2");
  EXPECT_EQ(none.cls, WorkloadClass::kNormal);
  EXPECT_EQ(none.rule, -1);
  EXPECT_EQ(none.rule_name, "");
  EXPECT_EQ(c.Classify("/system.slice/sshd.service").cls, WorkloadClass::kNormal);
}

TEST_F(ClassifierTest, AllFieldsOfAMatchMustHold) {
  CgroupProcessNames names(t.Path("cpu"), t.Path("proc"));
  Classifier c(Rules(R"(workloads:
  - name: nginx-in-lc
    match: { cgroup: "/lc*", comm: nginx }
    class: latency-sensitive
)"),
               &names, nullptr);
  EXPECT_EQ(c.Classify("/lc-web").rule_name, "nginx-in-lc");
  EXPECT_EQ(c.Classify("/misc").rule, -1);       // comm would not match either
  t.Write("cpu/lc-other/cgroup.procs", "20\n");  // redis in an /lc cgroup
  EXPECT_EQ(c.Classify("/lc-other").rule, -1);
}

TEST(Classifier, SourcesAbsentMeansThoseRulesNeverMatch) {
  Classifier c(Rules(R"(workloads:
  - name: by-comm
    match: { comm: "*" }
    class: best-effort
)"),
               nullptr, nullptr);
  EXPECT_EQ(c.Classify("/anything").cls, WorkloadClass::kNormal);
}

// Process names come from the cpu hierarchy the agent detected (mountinfo may name any mount
// point), not from a second guess under cgroup_root.
TEST(Classifier, GatherReadsOnlyWhatTheRuleWalkReachesAndClassifyReadsNothing) {
  struct Counting final : ProcessNameSource, LabelSource {
    std::vector<std::string> ProcessNames(const std::string& p) override {
      calls.push_back("names " + p);
      return {p == "/db" ? "postgres" : "bash"};
    }
    std::map<std::string, std::string> Labels(const std::string& p) override {
      calls.push_back("labels " + p);
      return {{"tier", p == "/gold" ? "gold" : "none"}};
    }
    std::vector<std::string> calls;
  } src;
  Classifier c(Rules(R"(workloads:
  - { name: lc, match: { cgroup: "/lc*" }, class: latency-sensitive }
  - { name: db, match: { comm: "postgres" }, class: latency-sensitive }
  - { name: gold, match: { labels: { tier: gold } }, class: best-effort }
)"),
               &src, &src);
  EXPECT_TRUE(c.Gather("/lc-web").process_names.empty());
  EXPECT_THAT(src.calls, ::testing::IsEmpty());  // the path alone decided
  WorkloadFacts db = c.Gather("/db");
  EXPECT_THAT(src.calls, ::testing::ElementsAre("names /db"));  // rule db matched: no labels
  WorkloadFacts gold = c.Gather("/gold");
  EXPECT_THAT(src.calls, ::testing::ElementsAre("names /db", "names /gold", "labels /gold"));
  src.calls.clear();
  EXPECT_EQ(c.Classify("/db", db).rule_name, "db");
  EXPECT_EQ(c.Classify("/gold", gold).rule_name, "gold");
  EXPECT_EQ(c.Classify("/gold", WorkloadFacts{}).rule, -1);  // nothing gathered, nothing matched
  EXPECT_THAT(src.calls, ::testing::IsEmpty());
}

TEST(Classifier, SourcesFromTheDetectedCpuHierarchy) {
  test::TempTree t;
  t.Write("cg/cpu,cpuacct/cgroup.procs", "");
  t.Write("cg/cpu,cpuacct/app/cgroup.procs", "8\n");  // not the mounted hierarchy
  t.Write("mnt/cpu/cgroup.procs", "");
  t.Write("mnt/cpu/app/cgroup.procs", "7\n");
  t.Write("proc/7/comm", "memcached\n");
  t.Write("proc/8/comm", "stale\n");
  t.Write("labels/app/labels", "cpu_hint=exclusive\n");
  ObserverConfig o;
  o.cgroup_root = t.Path("cg");
  o.proc_root = t.Path("proc");
  ClassifierSources none = MakeClassifierSources(o, t.Path("mnt/cpu"));
  EXPECT_EQ(none.labels, nullptr);
  EXPECT_EQ(none.process_names->ProcessNames("/app"), std::vector<std::string>{"memcached"});
  o.labels_dir = t.Path("labels");
  ClassifierSources s = MakeClassifierSources(o, t.Path("mnt/cpu"));
  ASSERT_NE(s.labels, nullptr);
  EXPECT_EQ(s.labels->Labels("/app").at("cpu_hint"), "exclusive");
}

TEST(Classifier, EmbeddedDefault) {
  Classifier c(LoadDefaultConfig(nullptr).config->workloads, nullptr, nullptr);
  EXPECT_EQ(c.Classify("/kubepods/besteffort/pod1").cls, WorkloadClass::kBestEffort);
  EXPECT_EQ(c.Classify("/kubepods/podabc/ctr").cls, WorkloadClass::kLatencySensitive);
  EXPECT_EQ(c.Classify("/kubepods/burstable/pod1").cls, WorkloadClass::kNormal);
  EXPECT_EQ(c.Classify("/user.slice").cls, WorkloadClass::kNormal);
}

}  // namespace
}  // namespace sw

// The shipped deploy files against the code: the DaemonSet and the systemd unit grant exactly the
// capabilities the agent needs (userspace/common/capabilities.h), the DaemonSet is not privileged,
// mounts no token, tolerates every taint, probes /healthz and /readyz and sets resources, and the
// configurations they ship are valid.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "common/capabilities.h"
#include "config/config.h"

namespace sw {
namespace {

std::string Read(const std::string& rel) {
  std::ifstream in(std::string(SW_SOURCE_DIR) + "/" + rel);
  EXPECT_TRUE(in.good()) << rel;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> NeededCaps(bool strip_prefix) {
  std::set<std::string> out;
  for (const NeededCapability& c : kAgentCapabilities)
    out.insert(strip_prefix ? std::string(c.name).substr(4) : c.name);
  return out;
}

YAML::Node DaemonSetDoc(const std::string& kind) {
  for (const YAML::Node& d : YAML::LoadAll(Read("deploy/kubernetes/daemonset.yaml")))
    if (d["kind"].as<std::string>() == kind) return d;
  ADD_FAILURE() << "no " << kind << " in daemonset.yaml";
  return {};
}

TEST(DeployFiles, DaemonSetHoldsExactlyTheNeededCapabilitiesAndIsNotPrivileged) {
  YAML::Node pod = DaemonSetDoc("DaemonSet")["spec"]["template"]["spec"];
  ASSERT_TRUE(pod);
  EXPECT_FALSE(pod["automountServiceAccountToken"].as<bool>(true));
  EXPECT_TRUE(pod["hostPID"].as<bool>(false));
  EXPECT_FALSE(pod["hostNetwork"].as<bool>(false))
      << "metrics would listen on the node's interfaces";
  bool tolerates_all = false;
  for (const auto& t : pod["tolerations"])
    tolerates_all |= t["operator"].as<std::string>("") == "Exists" && !t["key"] && !t["effect"];
  EXPECT_TRUE(tolerates_all) << "a toleration with operator Exists and no key/effect";
  ASSERT_EQ(pod["containers"].size(), 1u);
  YAML::Node c = pod["containers"][0];
  YAML::Node sc = c["securityContext"];
  EXPECT_FALSE(sc["privileged"].as<bool>(false));
  EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>(true));
  std::vector<std::string> drop = sc["capabilities"]["drop"].as<std::vector<std::string>>();
  EXPECT_THAT(drop, ::testing::ElementsAre("ALL"));
  auto add = sc["capabilities"]["add"].as<std::vector<std::string>>();
  EXPECT_EQ(std::set<std::string>(add.begin(), add.end()), NeededCaps(true));
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(""), "/healthz");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(""), "/readyz");
  EXPECT_TRUE(c["resources"]["requests"]["cpu"]);
  EXPECT_TRUE(c["resources"]["requests"]["memory"]);
  EXPECT_TRUE(c["resources"]["limits"]["memory"]);
  EXPECT_NE(c["image"].as<std::string>(), "schedwarden:latest");
}

TEST(DeployFiles, ShippedConfigurationsAreValid) {
  const std::string cm = DaemonSetDoc("ConfigMap")["data"]["config.yaml"].as<std::string>("");
  ConfigLoad k8s = ParseConfig(cm, "daemonset.yaml ConfigMap", nullptr);
  EXPECT_TRUE(k8s.errors.empty()) << k8s.Text();
  ConfigLoad example =
      ParseConfig(Read("deploy/config/config.yaml"), "deploy/config/config.yaml", nullptr);
  EXPECT_TRUE(example.errors.empty()) << example.Text();
}

// Rolling updates hand over (nothing undone between the old agent and the new one); removing the
// agent runs `restore` on every node against the same state directory.
TEST(DeployFiles, RollingUpdateHandsOverAndCleanupRestoresEveryNode) {
  YAML::Node ds = DaemonSetDoc("DaemonSet");
  YAML::Node pod = ds["spec"]["template"]["spec"];
  ASSERT_TRUE(pod);
  EXPECT_EQ(ds["spec"]["updateStrategy"]["type"].as<std::string>(""), "RollingUpdate");
  auto args = pod["containers"][0]["args"].as<std::vector<std::string>>();
  auto it = std::find(args.begin(), args.end(), "--on-stop");
  ASSERT_NE(it, args.end());
  ASSERT_NE(it + 1, args.end());
  EXPECT_EQ(*(it + 1), "handover");
  std::string state_path;
  for (const auto& v : pod["volumes"])
    if (v["name"].as<std::string>() == "state")
      state_path = v["hostPath"]["path"].as<std::string>();
  ASSERT_FALSE(state_path.empty());

  YAML::Node cleanup;
  for (const YAML::Node& d : YAML::LoadAll(Read("deploy/kubernetes/cleanup.yaml")))
    if (d["kind"].as<std::string>() == "DaemonSet") cleanup = d;
  ASSERT_TRUE(cleanup) << "no DaemonSet in cleanup.yaml";
  YAML::Node cpod = cleanup["spec"]["template"]["spec"];
  EXPECT_TRUE(cpod["hostPID"].as<bool>(false)) << "restore checks tasks' start times in /proc";
  bool tolerates_all = false;
  for (const auto& t : cpod["tolerations"])
    tolerates_all |= t["operator"].as<std::string>("") == "Exists" && !t["key"] && !t["effect"];
  EXPECT_TRUE(tolerates_all);
  ASSERT_EQ(cpod["initContainers"].size(), 1u);
  YAML::Node r = cpod["initContainers"][0];
  auto rargs = r["args"].as<std::vector<std::string>>();
  ASSERT_GE(rargs.size(), 3u);
  EXPECT_EQ(rargs[0], "restore");
  std::string mount;
  for (const auto& m : r["volumeMounts"])
    if (m["name"].as<std::string>() == "state") mount = m["mountPath"].as<std::string>();
  EXPECT_EQ(rargs[1], "--state-dir");
  EXPECT_EQ(rargs[2], mount);
  for (const auto& v : cpod["volumes"])
    if (v["name"].as<std::string>() == "state")
      EXPECT_EQ(v["hostPath"]["path"].as<std::string>(), state_path);
  EXPECT_EQ(r["image"].as<std::string>(), pod["containers"][0]["image"].as<std::string>());
}

// kubernetes.events needs "events: create" for the DaemonSet's service account, and nothing more.
TEST(DeployFiles, EventsRbacGrantsOnlyEventCreateToTheAgentsServiceAccount) {
  YAML::Node pod = DaemonSetDoc("DaemonSet")["spec"]["template"]["spec"];
  const std::string sa = pod["serviceAccountName"].as<std::string>("");
  ASSERT_FALSE(sa.empty());
  YAML::Node role = DaemonSetDoc("ClusterRole");
  ASSERT_TRUE(role);
  ASSERT_EQ(role["rules"].size(), 1u);
  YAML::Node rule = role["rules"][0];
  EXPECT_EQ(rule["apiGroups"].as<std::vector<std::string>>(), std::vector<std::string>{""});
  EXPECT_EQ(rule["resources"].as<std::vector<std::string>>(), std::vector<std::string>{"events"});
  EXPECT_EQ(rule["verbs"].as<std::vector<std::string>>(), std::vector<std::string>{"create"});
  YAML::Node binding = DaemonSetDoc("ClusterRoleBinding");
  ASSERT_TRUE(binding);
  EXPECT_EQ(binding["roleRef"]["name"].as<std::string>(),
            role["metadata"]["name"].as<std::string>());
  ASSERT_EQ(binding["subjects"].size(), 1u);
  EXPECT_EQ(binding["subjects"][0]["name"].as<std::string>(), sa);
  EXPECT_EQ(binding["subjects"][0]["namespace"].as<std::string>(),
            DaemonSetDoc("DaemonSet")["metadata"]["namespace"].as<std::string>());
  EXPECT_EQ(DaemonSetDoc("ServiceAccount")["metadata"]["name"].as<std::string>(), sa);
}

// systemd's CapabilityBoundingSet= (space-separated, may repeat) is the needed list; the unit does
// not skip itself silently with a Condition*= on BTF.
TEST(DeployFiles, SystemdUnitBoundsCapabilitiesToTheNeededOnes) {
  std::istringstream unit(Read("deploy/systemd/schedwarden.service"));
  std::set<std::string> bounding;
  std::map<std::string, std::string> keys;
  for (std::string line; std::getline(unit, line);) {
    if (line.empty() || line[0] == '#' || line[0] == '[') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    keys[key] = value;
    if (key == "CapabilityBoundingSet") {
      std::istringstream ss(value);
      for (std::string cap; ss >> cap;) bounding.insert(cap);
    }
    EXPECT_NE(key.rfind("Condition", 0), 0u) << line << ": a condition skips the unit silently";
  }
  EXPECT_EQ(bounding, NeededCaps(false));
  for (const char* k : {"NoNewPrivileges", "ProtectSystem", "ReadWritePaths", "ProtectHome",
                        "PrivateTmp", "RestrictAddressFamilies", "SystemCallArchitectures",
                        "LockPersonality", "MemoryDenyWriteExecute", "SystemCallFilter"})
    EXPECT_TRUE(keys.count(k)) << k;
  EXPECT_EQ(keys["ProtectSystem"], "strict");
  EXPECT_THAT(keys["ReadWritePaths"], ::testing::HasSubstr("/sys/fs/cgroup"));
}

}  // namespace
}  // namespace sw

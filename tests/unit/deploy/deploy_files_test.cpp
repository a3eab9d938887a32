// The shipped deploy files against the code: the DaemonSet and the systemd unit grant exactly the
// capabilities the agent needs (userspace/common/capabilities.h), the DaemonSet is not privileged,
// mounts no token, tolerates every taint, probes /healthz and /readyz and sets resources, and the
// configurations they ship are valid.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

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

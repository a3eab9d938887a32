// Synthetic machines for tests that need a Topology (config validation, the controller):
// `cores` cores of `threads` CPUs each, built by hwloc like the real one. Cached, never freed.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>

#include "topology/topology.h"

namespace sw::test {

inline const Topology* SyntheticMachine(int cores, int threads = 1) {
  static std::map<std::pair<int, int>, Topology> machines;
  auto it = machines.find({cores, threads});
  if (it == machines.end()) {
    auto t = LoadSyntheticTopology("pack:1 core:" + std::to_string(cores) +
                                   " pu:" + std::to_string(threads));
    EXPECT_TRUE(t.ok()) << t.error().message;
    it = machines.emplace(std::make_pair(cores, threads), t.ok() ? *t : Topology{}).first;
  }
  return &it->second;
}

}  // namespace sw::test

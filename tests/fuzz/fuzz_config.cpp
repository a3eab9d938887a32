// The config file (operator input): ParseConfig on any text, with and without a machine.
#include "config/config.h"
#include "fuzz_target.h"
#include "topology/topology.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sw::Topology* machine = [] {
    auto t = sw::LoadSyntheticTopology("package:1 core:4 pu:2");
    return t.ok() ? new sw::Topology(std::move(*t)) : nullptr;
  }();
  std::string text = FuzzText(data, size);
  for (const sw::Topology* m : {machine, static_cast<const sw::Topology*>(nullptr)}) {
    sw::ConfigLoad load = sw::ParseConfig(text, "fuzz.yaml", m);
    (void)load.Text();
  }
  return 0;
}

// The status file `schedwarden status` reads (written by the agent, but any process that can
// write the state dir, a full disk or a torn write can leave anything there).
#include <nlohmann/json.hpp>

#include "fuzz_target.h"
#include "policy/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(FuzzText(data, size), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  auto model = sw::StatusFromJson(j);
  if (!model) return 0;
  (void)sw::FormatStatusTable(*model);
  auto again = sw::StatusFromJson(sw::StatusToJson(*model));
  FUZZ_CHECK(again.ok());
  return 0;
}

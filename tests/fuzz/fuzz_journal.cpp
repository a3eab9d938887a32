// The journal (a file that survives crashes, disk errors and edits): the whole-file parser and
// the record decoder.
#include "enforce/journal.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text = FuzzText(data, size);
  sw::JournalReadReport rep = sw::ParseJournalText(text, "journal");
  FUZZ_CHECK(rep.valid_bytes <= text.size());
  FUZZ_CHECK(rep.valid_bytes == 0 || text[rep.valid_bytes - 1] == '\n');
  auto line = sw::DecodeJournalLine(text);
  if (line) FUZZ_CHECK(sw::EncodeJournalLine(*line) == text);
  return 0;
}

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
  // The checksums keep random bytes from reaching the record parser: parse the same text again
  // with every line's checksum made right (a bit flip the CRC misses, or a hand edit).
  std::string fixed;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string l = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    std::string body = l.size() >= 9 && l[8] == ' ' ? l.substr(9) : l;
    fixed += sw::EncodeJournalLine(body);
    if (nl == std::string::npos) break;
    fixed += '\n';
    pos = nl + 1;
  }
  sw::JournalReadReport rep2 = sw::ParseJournalText(fixed, "journal");
  FUZZ_CHECK(rep2.valid_bytes <= fixed.size());
  return 0;
}

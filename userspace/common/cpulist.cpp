#include "common/cpulist.h"

#include <charconv>

#include "common/fs.h"

namespace sw {
namespace {

bool ParseCpu(const std::string& s, int* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && *out >= 0 && *out < 65536;
}

}  // namespace

Result<CpuSet> ParseCpuList(const std::string& text) {
  CpuSet cpus;
  std::string t = Trim(text);
  if (t.empty()) return cpus;
  for (const std::string& raw : Split(t, ',')) {
    std::string tok = Trim(raw);
    size_t dash = tok.find('-');
    int lo = 0, hi = 0;
    if (dash == std::string::npos) {
      if (!ParseCpu(tok, &lo)) return Error{EINVAL, "bad CPU '" + tok + "' in list '" + t + "'"};
      hi = lo;
    } else if (!ParseCpu(Trim(tok.substr(0, dash)), &lo) ||
               !ParseCpu(Trim(tok.substr(dash + 1)), &hi) || hi < lo) {
      return Error{EINVAL, "bad CPU range '" + tok + "' in list '" + t + "'"};
    }
    for (int c = lo; c <= hi; c++) cpus.insert(c);
  }
  return cpus;
}

std::string FormatCpuList(const CpuSet& cpus) {
  std::string out;
  auto it = cpus.begin();
  while (it != cpus.end()) {
    int lo = *it, hi = *it;
    for (++it; it != cpus.end() && *it == hi + 1; ++it) hi = *it;
    if (!out.empty()) out += ',';
    out += std::to_string(lo);
    if (hi != lo) out += "-" + std::to_string(hi);
  }
  return out;
}

}  // namespace sw

#include "common/duration.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/fs.h"

namespace sw {

Result<std::chrono::nanoseconds> ParseDuration(const std::string& text) {
  std::string t = Trim(text);
  size_t unit_at = 0;
  while (unit_at < t.size() &&
         (isdigit(static_cast<unsigned char>(t[unit_at])) || t[unit_at] == '.'))
    unit_at++;
  std::string number = t.substr(0, unit_at), unit = t.substr(unit_at);
  const auto bad = [&] {
    return Error{EINVAL, "bad duration '" + t +
                             "': expected a number and a unit (ns, us, ms, s, m, h), e.g. 500ms"};
  };
  if (number.empty() || number == "." || number.find('.') != number.rfind('.')) return bad();
  double scale = 0;
  if (unit == "ns")
    scale = 1;
  else if (unit == "us" || unit == "µs")
    scale = 1e3;
  else if (unit == "ms")
    scale = 1e6;
  else if (unit == "s")
    scale = 1e9;
  else if (unit == "m")
    scale = 60e9;
  else if (unit == "h")
    scale = 3600e9;
  else
    return bad();
  double ns = std::strtod(number.c_str(), nullptr) * scale;
  if (!std::isfinite(ns) || ns > 9.2e18) return bad();
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  struct Unit {
    const char* name;
    int64_t ns;
  };
  static constexpr Unit kUnits[] = {{"h", 3600000000000}, {"m", 60000000000}, {"s", 1000000000},
                                    {"ms", 1000000},      {"us", 1000},       {"ns", 1}};
  int64_t v = d.count();
  if (v == 0) return "0s";
  for (const Unit& u : kUnits) {
    if (v >= u.ns && (v % u.ns == 0 || u.ns <= 1000000)) {
      char buf[64];
      if (v % u.ns == 0)
        std::snprintf(buf, sizeof buf, "%lld%s", static_cast<long long>(v / u.ns), u.name);
      else
        std::snprintf(buf, sizeof buf, "%g%s", static_cast<double>(v) / u.ns, u.name);
      return buf;
    }
  }
  return std::to_string(v) + "ns";
}

}  // namespace sw

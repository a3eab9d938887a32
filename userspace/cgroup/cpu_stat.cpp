#include "cgroup/cpu_stat.h"

#include <cerrno>
#include <charconv>
#include <map>
#include <sstream>
#include <string_view>

#include "common/fs.h"

namespace sw {
namespace {

bool ParseU64(std::string_view s, uint64_t* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Next whitespace-separated token of `line` from `*pos`; empty at the end.
std::string_view NextToken(std::string_view line, size_t* pos) {
  while (*pos < line.size() && IsSpace(line[*pos])) ++*pos;
  const size_t start = *pos;
  while (*pos < line.size() && !IsSpace(line[*pos])) ++*pos;
  return line.substr(start, *pos - start);
}

// "key value" lines into a map; malformed lines are errors naming the line. Read every interval
// for every workload, so no streams: string_view tokens and from_chars.
Result<std::map<std::string, uint64_t>> ParseKeyValues(const std::string& text,
                                                       const std::string& origin) {
  std::map<std::string, uint64_t> kv;
  std::string_view rest(text);
  for (int lineno = 1; !rest.empty(); lineno++) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    size_t pos = 0;
    const std::string_view key = NextToken(line, &pos);
    if (key.empty()) continue;
    const std::string_view value = NextToken(line, &pos);
    uint64_t v = 0;
    if (value.empty() || !NextToken(line, &pos).empty() || !ParseU64(value, &v))
      return Error{EINVAL, origin + ":" + std::to_string(lineno) +
                               ": expected \"<name> <count>\", found '" + Trim(std::string(line)) +
                               "'"};
    kv[std::string(key)] = v;
  }
  return kv;
}

bool IsVanished(int code) { return code == ENOENT || code == ENODEV; }

}  // namespace

Result<CpuStatReading> ParseCpuStat(const std::string& text, CgroupVersion version,
                                    const std::string& origin) {
  auto kv = ParseKeyValues(text, origin);
  if (!kv) return kv.error();
  auto get = [&](const char* key) -> Result<uint64_t> {
    auto it = kv->find(key);
    if (it == kv->end())
      return Error{EINVAL, origin + ": no '" + key + "' field (is this a cgroup " +
                               CgroupVersionName(version) + " cpu.stat?)"};
    return it->second;
  };
  CpuStatReading r;
  if (version == CgroupVersion::kV2) {
    auto usage = get("usage_usec");
    if (!usage) return usage.error();
    r.usage_ns = *usage * 1000;
    // Root and cpu-controller-less v2 cgroups show usage only: no bandwidth sample, no error.
    if (!kv->count("nr_periods") && !kv->count("nr_throttled") && !kv->count("throttled_usec"))
      return r;
  }
  auto periods = get("nr_periods");
  if (!periods) return periods.error();
  auto throttled = get("nr_throttled");
  if (!throttled) return throttled.error();
  auto time = get(version == CgroupVersion::kV1 ? "throttled_time" : "throttled_usec");
  if (!time) return time.error();
  r.stat =
      CpuStatSample{*periods, *throttled, version == CgroupVersion::kV1 ? *time : *time * 1000};
  return r;
}

Result<uint64_t> ParseCpuacctUsage(const std::string& text, const std::string& origin) {
  std::string t = Trim(text);
  uint64_t v = 0;
  if (!ParseU64(t, &v))
    return Error{EINVAL, origin + ": expected nanoseconds as one integer, found '" + t + "'"};
  return v;
}

Result<PsiSample> ParsePsi(const std::string& text, const std::string& origin) {
  PsiSample s;
  bool some = false;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    lineno++;
    std::istringstream ls(line);
    std::string kind, field;
    if (!(ls >> kind)) continue;
    if (kind != "some" && kind != "full") continue;  // newer kernels may add lines
    std::optional<uint64_t> total;
    while (ls >> field) {
      if (field.rfind("total=", 0) == 0) {
        uint64_t v = 0;
        if (!ParseU64(field.substr(6), &v))
          return Error{EINVAL, origin + ":" + std::to_string(lineno) + ": bad total in '" +
                                   Trim(line) + "'"};
        total = v;
      }
    }
    if (!total)
      return Error{EINVAL,
                   origin + ":" + std::to_string(lineno) + ": no total= in '" + Trim(line) + "'"};
    if (kind == "some") {
      s.some_total_ns = *total * 1000;
      some = true;
    } else {
      s.full_total_ns = *total * 1000;
    }
  }
  if (!some) return Error{EINVAL, origin + ": no 'some' line (is this a PSI pressure file?)"};
  return s;
}

CgroupStatReader::CgroupStatReader(CgroupMounts layout, size_t max_open_files)
    : layout_(std::move(layout)), files_(max_open_files) {}

// nullopt when the file (or its cgroup) is gone; error for anything else.
Result<std::optional<std::string>> CgroupStatReader::ReadOptional(const std::string& path) {
  auto text = files_.Read(path);
  if (text) return std::optional<std::string>(std::move(*text));
  if (IsVanished(text.error().code)) return std::optional<std::string>();
  return text.error();
}

Result<std::optional<CpuStatReading>> CgroupStatReader::ReadCpuStat(
    const std::string& cgroup_path) {
  std::string path = JoinPath(JoinPath(layout_.cpu.path, cgroup_path), "cpu.stat");
  auto text = ReadOptional(path);
  if (!text) return text.error();
  if (!*text) return std::optional<CpuStatReading>();
  auto r = ParseCpuStat(**text, layout_.cpu.version, path);
  if (!r) return r.error();
  return std::optional<CpuStatReading>(*r);
}

Result<std::optional<uint64_t>> CgroupStatReader::ReadUsageNs(const std::string& cgroup_path) {
  if (layout_.cpu.version == CgroupVersion::kV2) {
    auto r = ReadCpuStat(cgroup_path);
    if (!r) return r.error();
    if (!*r) return std::optional<uint64_t>();
    return (*r)->usage_ns;
  }
  if (!layout_.cpuacct) return std::optional<uint64_t>();
  std::string path = JoinPath(JoinPath(layout_.cpuacct->path, cgroup_path), "cpuacct.usage");
  auto text = ReadOptional(path);
  if (!text) return text.error();
  if (!*text) return std::optional<uint64_t>();
  auto v = ParseCpuacctUsage(**text, path);
  if (!v) return v.error();
  return std::optional<uint64_t>(*v);
}

Result<std::optional<PsiSample>> CgroupStatReader::ReadPsi(const std::string& cgroup_path) {
  if (psi_unavailable_) return std::optional<PsiSample>();
  const std::string dir = JoinPath(layout_.cpu.path, cgroup_path);
  const std::string path = JoinPath(dir, "cpu.pressure");
  auto text = files_.Read(path);
  if (!text) {
    const int c = text.error().code;
    // EOPNOTSUPP: the kernel was booted without psi=1, for every cgroup. On v1, a child cgroup
    // that exists without cpu.pressure means the hierarchy has none. (On v2 the root may lack
    // the file and `cgroup.pressure: 0` removes it from one cgroup only.)
    const bool v1_child =
        layout_.cpu.version == CgroupVersion::kV1 && cgroup_path != "/" && !cgroup_path.empty();
    if (c == EOPNOTSUPP || (c == ENOENT && v1_child && PathExists(dir))) psi_unavailable_ = true;
    if (IsVanished(c) || c == EOPNOTSUPP) return std::optional<PsiSample>();
    return text.error();
  }
  auto s = ParsePsi(*text, path);
  if (!s) return s.error();
  return std::optional<PsiSample>(*s);
}

}  // namespace sw

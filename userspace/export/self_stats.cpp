#include "export/self_stats.h"

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <sstream>
#include <vector>

#include "common/fs.h"

namespace sw {
namespace {

// Fields of /proc/<pid>/stat after the command (which may hold spaces and parentheses): the
// first is field 3, `state`.
Result<std::vector<std::string>> StatFields(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) return text.error();
  size_t close = text->rfind(')');
  if (close == std::string::npos) return Error{EINVAL, path + ": no ')' after the command"};
  std::istringstream in(text->substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  if (fields.size() < 22) return Error{EINVAL, path + ": too few fields"};
  return fields;
}

Result<double> BootTime(const std::string& proc_root) {
  const std::string path = proc_root + "/stat";
  auto text = ReadFile(path);
  if (!text) return text.error();
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  return Error{EINVAL, path + ": no btime line"};
}

// Soft limit of "Max open files"; nullopt for "unlimited".
Result<std::optional<uint64_t>> MaxFds(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) return text.error();
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream f(line.substr(14));
    std::string soft;
    f >> soft;
    if (soft == "unlimited") return std::optional<uint64_t>();
    return std::optional<uint64_t>(std::stoull(soft));
  }
  return Error{EINVAL, path + ": no \"Max open files\" line"};
}

}  // namespace

Result<ProcessStats> ReadProcessStats(const std::string& proc_root, const std::string& pid,
                                      long ticks_per_second, long page_size) {
  if (ticks_per_second <= 0) ticks_per_second = sysconf(_SC_CLK_TCK);
  if (page_size <= 0) page_size = sysconf(_SC_PAGESIZE);
  const std::string dir = proc_root + "/" + pid;
  auto fields = StatFields(dir + "/stat");
  if (!fields) return fields.error();
  auto btime = BootTime(proc_root);
  if (!btime) return btime.error();
  auto max_fds = MaxFds(dir + "/limits");
  if (!max_fds) return max_fds.error();
  ProcessStats s;
  try {
    // Field n of stat(5) is fields[n - 3]: utime 14, stime 15, starttime 22, vsize 23, rss 24.
    const double tick = static_cast<double>(ticks_per_second);
    s.cpu_seconds = (std::stod((*fields)[11]) + std::stod((*fields)[12])) / tick;
    s.start_time_seconds = *btime + std::stod((*fields)[19]) / tick;
    s.virtual_bytes = std::stoull((*fields)[20]);
    s.resident_bytes = std::stoull((*fields)[21]) * static_cast<uint64_t>(page_size);
  } catch (const std::exception&) {
    return Error{EINVAL, dir + "/stat: a number field does not parse"};
  }
  s.max_fds = *max_fds;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    s.open_fds++;
  if (ec) return Error{ec.value(), dir + "/fd: " + ec.message()};
  return s;
}

}  // namespace sw

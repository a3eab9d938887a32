#include "support/cgroup_weight.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/fs.h"

namespace sw::test {

std::string WeightFile(const std::string& dir) {
  for (const char* f : {"cpu.shares", "cpu.weight"})
    if (PathExists(JoinPath(dir, f))) return f;
  return "";
}

std::string ReadWeight(const std::string& dir) {
  const std::string f = WeightFile(dir);
  if (f.empty()) return "";
  return Trim(ReadLine(JoinPath(dir, f)).value_or(""));
}

Result<void> WriteWeight(const std::string& dir, const std::string& value) {
  const std::string f = WeightFile(dir);
  if (f.empty()) return Error{ENOENT, dir + " has neither cpu.shares nor cpu.weight"};
  const std::string p = JoinPath(dir, f);
  int fd = open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno(errno, "open " + p);
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size()))
    return Error::FromErrno(err, "write '" + value + "' to " + p);
  return Ok();
}

std::string NonDefaultWeight(const std::string& dir) {
  return WeightFile(dir) == "cpu.weight" ? "500" : "2048";
}

bool IsIdleWeight(const std::string& dir, const std::string& value) {
  if (WeightFile(dir) == "cpu.weight") return value == "0" || value == "1";
  return value == "3";
}

}  // namespace sw::test

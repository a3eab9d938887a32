#include "common/fs.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <memory>
#include <sstream>

namespace sw {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::FromErrno(errno ? errno : ENOENT, "open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Error::FromErrno(errno ? errno : EIO, "read " + path);
  return ss.str();
}

Result<std::string> ReadLine(const std::string& path) {
  auto content = ReadFile(path);
  if (!content) return content.error();
  const std::string& s = *content;
  return s.substr(0, s.find('\n'));
}

Result<int64_t> ReadInt(const std::string& path) {
  auto line = ReadLine(path);
  if (!line) return line.error();
  std::string t = Trim(*line);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || ptr != t.data() + t.size() || t.empty())
    return Error{EINVAL, path + ": expected an integer, found '" + t + "'"};
  return v;
}

Result<std::vector<std::string>> ListDir(const std::string& path) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(path.c_str()), closedir);
  if (!dir) return Error::FromErrno(errno, "opendir " + path);
  std::vector<std::string> names;
  while (dirent* e = readdir(dir.get())) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  std::string left = a;
  while (left.size() > 1 && left.back() == '/') left.pop_back();
  size_t start = 0;
  while (start < b.size() && b[start] == '/') start++;
  if (left == "/") return "/" + b.substr(start);
  return left + "/" + b.substr(start);
}

std::string Trim(const std::string& s) {
  const char* ws = " \t\r\n\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

}  // namespace sw

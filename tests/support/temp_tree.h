// A temporary directory for fake /proc, /sys and cgroupfs trees; removed on destruction.
#pragma once

#include <string>

namespace sw::test {

class TempTree {
 public:
  TempTree();
  ~TempTree();
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  const std::string& root() const { return root_; }
  // Full path of a relative path inside the tree.
  std::string Path(const std::string& rel) const;
  // Creates parent directories as needed; returns the full path.
  std::string Write(const std::string& rel, const std::string& content) const;
  std::string MakeDir(const std::string& rel) const;
  std::string Read(const std::string& rel) const;

 private:
  std::string root_;
};

}  // namespace sw::test

#include "support/temp_tree.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sw::test {
namespace fs = std::filesystem;

TempTree::TempTree() {
  std::string tmpl = (fs::temp_directory_path() / "schedwarden-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
}

TempTree::~TempTree() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

std::string TempTree::Path(const std::string& rel) const {
  std::string r = rel;
  while (!r.empty() && r.front() == '/') r.erase(0, 1);
  return r.empty() ? root_ : root_ + "/" + r;
}

std::string TempTree::Write(const std::string& rel, const std::string& content) const {
  std::string p = Path(rel);
  fs::create_directories(fs::path(p).parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
  return p;
}

std::string TempTree::MakeDir(const std::string& rel) const {
  std::string p = Path(rel);
  fs::create_directories(p);
  return p;
}

std::string TempTree::Read(const std::string& rel) const {
  std::ifstream in(Path(rel), std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace sw::test

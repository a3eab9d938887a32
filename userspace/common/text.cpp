#include "common/text.h"

namespace sw {
namespace {

constexpr const char* kEllipsis = "…";

// Byte offset of the first `cols` code points of s.
size_t BytesOf(const std::string& s, size_t cols) {
  size_t i = 0;
  for (size_t n = 0; i < s.size(); i++) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (n++ == cols) break;
  }
  return i;
}

}  // namespace

size_t DisplayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string ShortenMiddle(const std::string& s, size_t width) {
  const size_t w = DisplayWidth(s);
  if (w <= width) return s;
  if (width == 0) return "";
  const size_t tail = (width - 1) / 2, head = width - 1 - tail;
  return s.substr(0, BytesOf(s, head)) + kEllipsis + s.substr(BytesOf(s, w - tail));
}

std::string ShortenEnd(const std::string& s, size_t width) {
  if (DisplayWidth(s) <= width) return s;
  if (width == 0) return "";
  return s.substr(0, BytesOf(s, width - 1)) + kEllipsis;
}

std::string PadRight(const std::string& s, size_t width) {
  const size_t w = DisplayWidth(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

std::string PadLeft(const std::string& s, size_t width) {
  const size_t w = DisplayWidth(s);
  return w >= width ? s : std::string(width - w, ' ') + s;
}

}  // namespace sw

#include "export/exposition.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace sw {

LeEdges::LeEdges(std::vector<int> buckets) : buckets_(std::move(buckets)) {
  std::erase_if(buckets_, [](int b) { return b < 0 || b >= LatencyHistogram::kBuckets - 1; });
  std::sort(buckets_.begin(), buckets_.end());
  buckets_.erase(std::unique(buckets_.begin(), buckets_.end()), buckets_.end());
  // ns / 1e9 is one correctly rounded division: the double nearest the exact decimal edge, whose
  // shortest form is that decimal (4096 ns -> "4.096e-06").
  for (int b : buckets_)
    text_.push_back(FormatDouble(static_cast<double>(LatencyHistogram::UpperEdgeNs(b)) / 1e9));
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

namespace {

// HELP text escapes only \ and newline.
std::string EscapeHelp(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string_view Uint(uint64_t v, char (&buf)[24]) {
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return {buf, static_cast<size_t>(r.ptr - buf)};
}

}  // namespace

void ExpositionWriter::Begin(const MetricDef& def) {
  def_ = &def;
  header_written_ = false;
}

void ExpositionWriter::Header() {
  if (header_written_) return;
  header_written_ = true;
  out_ += "# HELP ";
  out_ += def_->name;
  out_ += ' ';
  out_ += EscapeHelp(def_->help);
  out_ += "\n# TYPE ";
  out_ += def_->name;
  out_ += ' ';
  out_ += MetricTypeName(def_->type);
  out_ += '\n';
}

std::string ExpositionWriter::LabelPairs(std::initializer_list<std::string_view> values) const {
  if (values.size() != def_->labels.size())
    throw std::logic_error(std::string(def_->name) + ": " + std::to_string(values.size()) +
                           " label values for " + std::to_string(def_->labels.size()) +
                           " label names");
  std::string out;
  size_t i = 0;
  for (std::string_view v : values) {
    if (i) out += ',';
    out += def_->labels[i++];
    out += "=\"";
    out += EscapeLabelValue(v);
    out += '"';
  }
  return out;
}

void ExpositionWriter::Line(std::string_view suffix, std::string_view pairs,
                            std::string_view number, std::string_view le) {
  Header();
  out_ += def_->name;
  out_ += suffix;
  if (!pairs.empty() || !le.empty()) {
    out_ += '{';
    out_ += pairs;
    if (!le.empty()) {
      if (!pairs.empty()) out_ += ',';
      out_ += "le=\"";
      out_ += le;
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += number;
  out_ += '\n';
}

void ExpositionWriter::Sample(std::initializer_list<std::string_view> values, double value) {
  Line("", LabelPairs(values), FormatDouble(value));
}

void ExpositionWriter::Sample(std::initializer_list<std::string_view> values, uint64_t value) {
  char buf[24];
  Line("", LabelPairs(values), Uint(value, buf));
}

void ExpositionWriter::Histogram(std::initializer_list<std::string_view> values,
                                 const LatencyHistogram& h, const LeEdges& edges) {
  char buf[24];
  const std::string pairs = LabelPairs(values);  // escaped once for all the histogram's lines
  uint64_t cumulative = 0;
  int next = 0;
  for (size_t i = 0; i < edges.buckets().size(); i++) {
    for (; next <= edges.buckets()[i]; next++) cumulative += h.BucketCount(next);
    Line("_bucket", pairs, Uint(cumulative, buf), edges.text()[i]);
  }
  const uint64_t total = h.Count();
  Line("_bucket", pairs, Uint(total, buf), "+Inf");
  Line("_sum", pairs, FormatDouble(static_cast<double>(h.SumNs()) / 1e9));
  Line("_count", pairs, Uint(total, buf));
}

}  // namespace sw

// A writer of the Prometheus text exposition format 0.0.4 for the metrics in MetricRegistry():
// `# HELP` / `# TYPE` once per family (a family without samples is left out), label values
// escaped (\ " and newline), numbers printed exactly: integers as integers, doubles as the
// shortest decimal that reads back to the same double, so `le="8.192e-06"`, never float noise.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "collect/histogram.h"
#include "export/metric_registry.h"

namespace sw {

// The `le` edges of exported histograms: BPF bucket indices (sorted, unique, overflow bucket
// excluded; +Inf stands for it) and their label text, the edge in seconds.
class LeEdges {
 public:
  explicit LeEdges(std::vector<int> buckets);
  const std::vector<int>& buckets() const { return buckets_; }
  const std::vector<std::string>& text() const { return text_; }

 private:
  std::vector<int> buckets_;
  std::vector<std::string> text_;
};

// Shortest round-trip decimal of v; "+Inf", "-Inf", "NaN" for the special values.
std::string FormatDouble(double v);
// A label value with \, " and newline escaped.
std::string EscapeLabelValue(std::string_view v);

class ExpositionWriter {
 public:
  explicit ExpositionWriter(std::string& out) : out_(out) {}

  // Starts a family; its HELP and TYPE lines are written with its first sample.
  void Begin(const MetricDef& def);
  // One counter or gauge sample; label values in the order of the family's label names.
  void Sample(std::initializer_list<std::string_view> label_values, double value);
  void Sample(std::initializer_list<std::string_view> label_values, uint64_t value);
  // A histogram's cumulative _bucket series at `edges` (each count the exact sum of the BPF
  // buckets at or below the edge), +Inf, _sum (seconds) and _count.
  void Histogram(std::initializer_list<std::string_view> label_values, const LatencyHistogram& h,
                 const LeEdges& edges);

 private:
  void Header();
  // `name="value",...` of the family's labels, escaped; no braces.
  std::string LabelPairs(std::initializer_list<std::string_view> values) const;
  void Line(std::string_view suffix, std::string_view pairs, std::string_view number,
            std::string_view le = {});

  std::string& out_;
  const MetricDef* def_ = nullptr;
  bool header_written_ = false;
};

}  // namespace sw

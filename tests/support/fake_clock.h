// A Clock that moves only when told to.
#pragma once

#include <chrono>

#include "common/clock.h"

namespace sw {

class FakeClock final : public Clock {
 public:
  std::chrono::nanoseconds Monotonic() const override { return now_; }
  std::chrono::nanoseconds Wall() const override {
    return now_ + std::chrono::hours(24 * 365 * 50);
  }
  void Advance(std::chrono::nanoseconds d) { now_ += d; }

 private:
  std::chrono::nanoseconds now_{std::chrono::seconds(1000)};
};

}  // namespace sw

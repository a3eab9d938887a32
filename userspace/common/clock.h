// Time source behind an interface so the control loop is tested with a fake clock
// (tests/support/fake_clock.h).
#pragma once

#include <chrono>

namespace sw {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for intervals and cool-downs.
  virtual std::chrono::nanoseconds Monotonic() const = 0;
  // Wall-clock time since the Unix epoch, for decision timestamps (audit log, status).
  virtual std::chrono::nanoseconds Wall() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::nanoseconds Monotonic() const override {
    return std::chrono::steady_clock::now().time_since_epoch();
  }
  std::chrono::nanoseconds Wall() const override {
    return std::chrono::system_clock::now().time_since_epoch();
  }
};

}  // namespace sw

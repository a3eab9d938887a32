// Time source behind an interface so the control loop is tested with a fake clock.
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

// Pacing of the controller's changes: a per-victim cool-down after each action and a
// machine-wide rate limit (actuator calls per minute). Time is whatever the caller says it is.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <string>

namespace sw {

class Governor {
 public:
  Governor(std::chrono::nanoseconds cooldown, int max_actions_per_minute)
      : cooldown_(cooldown), max_per_minute_(max_actions_per_minute) {}

  void SetNow(std::chrono::nanoseconds now) { now_ = now; }
  int max_actions_per_minute() const { return max_per_minute_; }

  // No action for victim within the cool-down.
  bool CooledDown(const std::string& victim) const;
  // Actions still allowed in the minute ending now.
  int Budget();
  // Some action was taken in that minute (a budget below a request is then worth waiting for).
  bool AnyRecent() const { return !action_times_.empty(); }
  // An actuator call: counts against the rate limit and starts victim's cool-down.
  void NoteAction(const std::string& victim);
  // An actuator call on no victim's behalf: counts against the rate limit only.
  void NoteAction();
  // Starts victim's cool-down without an actuator call (refusals and reverts are paced too).
  void Pace(const std::string& victim) { last_action_at_[victim] = now_; }
  void Forget(const std::string& victim) { last_action_at_.erase(victim); }

 private:
  std::chrono::nanoseconds cooldown_;
  int max_per_minute_;
  std::chrono::nanoseconds now_{0};
  std::deque<std::chrono::nanoseconds> action_times_;  // actuator calls in the last minute
  std::map<std::string, std::chrono::nanoseconds> last_action_at_;
};

}  // namespace sw

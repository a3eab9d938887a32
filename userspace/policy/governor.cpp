#include "policy/governor.h"

namespace sw {

bool Governor::CooledDown(const std::string& victim) const {
  auto it = last_action_at_.find(victim);
  return it == last_action_at_.end() || now_ - it->second >= cooldown_;
}

int Governor::Budget() {
  while (!action_times_.empty() && now_ - action_times_.front() >= std::chrono::minutes(1))
    action_times_.pop_front();
  return max_per_minute_ - static_cast<int>(action_times_.size());
}

void Governor::NoteAction(const std::string& victim) {
  NoteAction();
  Pace(victim);
}

void Governor::NoteAction() { action_times_.push_back(now_); }

}  // namespace sw

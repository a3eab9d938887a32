// The small subcommands: restore, status, top, check-config, version.
#include "cli/commands.h"

#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cgroup/tasks.h"
#include "cli/live_view.h"
#include "cli/version.h"
#include "common/file_trust.h"
#include "common/fs.h"
#include "common/text.h"
#include "config/config.h"
#include "enforce/journal.h"
#include "enforce/restore.h"
#include "enforce/system_writer.h"
#include "policy/status.h"
#include "topology/topology.h"

namespace sw {
namespace {

Result<nlohmann::json> ReadStatusJson(const std::string& state_dir) {
  const std::string path = JoinPath(state_dir, kStatusFileName);
  auto read = ReadStatusFile(state_dir);
  if (!read) return read.error();
  nlohmann::json j = std::move(read).value();
  // The agent writing it died without a clean stop (kill -9, OOM): the file is stale.
  if (j.contains("pid") && j["pid"].is_number_integer()) {
    const pid_t pid = j["pid"].get<pid_t>();
    // Its pid alone may name another process by now (pid reuse): the start time tells.
    bool recycled = false;
    if (j.contains("pid_start") && j["pid_start"].is_number_unsigned() && pid > 0) {
      auto st = ReadTaskStat("/proc", pid);
      recycled = st.ok() && st->start_time != j["pid_start"].get<uint64_t>();
    }
    if (pid > 0 && (recycled || (kill(pid, 0) != 0 && errno == ESRCH)))
      return Error{ESRCH, "the agent that wrote " + path + " (pid " + std::to_string(pid) +
                              ") is not running; its changes may still be in place: run "
                              "`schedwarden restore --state-dir " +
                              state_dir + "`"};
  }
  return j;
}

}  // namespace

int RunRestore(const RestoreOptionsCli& o) {
  const std::string& state_dir = o.state_dir;
  // Opening the journal would create the directory: a mistyped --state-dir must not report
  // "nothing to restore" (exit 0) while the real journal still holds changes.
  if (!PathExists(state_dir)) {
    std::fprintf(stderr,
                 "schedwarden restore: no state directory at %s (nothing was ever journaled "
                 "there; pass the agent's --state-dir)\n",
                 state_dir.c_str());
    return 2;
  }
  // A journal others can edit would make restore write values of their choosing.
  if (auto trusted = CheckStateDir(state_dir); !trusted) {
    std::fprintf(stderr, "schedwarden restore: %s\n", trusted.error().message.c_str());
    return 2;
  }
  RealSystemWriter writer(CgroupMountsConfinement());
  auto r = RestoreFromJournal(state_dir, writer, RestoreOptions{});
  if (!r) {
    std::fprintf(stderr, "schedwarden restore: %s\n", r.error().message.c_str());
    return 2;
  }
  std::printf("%s", r->Summary().c_str());
  if (!r->Summary().empty() && r->Summary().back() != '\n') std::printf("\n");
  if (!o.set_aside_corrupt || r->undo.corrupt.empty()) return r->ExitCode();
  if (!r->undo.failed.empty()) {
    // Setting it aside would forget changes that are still in place.
    std::fprintf(stderr,
                 "schedwarden restore: not setting the journal aside: %zu change(s) could not be "
                 "restored (listed above); fix them and run this again\n",
                 r->undo.failed.size());
    return 1;
  }
  auto aside = SetJournalAside(state_dir);
  if (!aside) {
    std::fprintf(stderr, "schedwarden restore: setting the journal aside: %s\n",
                 aside.error().message.c_str());
    return 2;
  }
  std::printf(
      "set the journal aside as %s (its corrupt records are kept there); the agent can "
      "start\n",
      aside->c_str());
  return 0;
}

int RunStatus(const StatusOptions& o) {
  auto j = ReadStatusJson(o.state_dir);
  if (!j) {
    std::fprintf(stderr, "schedwarden status: %s\n", j.error().message.c_str());
    return 1;
  }
  if (o.json) {
    std::printf("%s\n", j->dump(2).c_str());
    return 0;
  }
  auto model = StatusFromJson(*j);
  if (!model) {
    std::fprintf(stderr, "schedwarden status: %s\n", model.error().message.c_str());
    return 1;
  }
  std::printf("%s", FormatStatusTable(*model).c_str());
  if (j->contains("observer"))
    std::printf("\n%s", FormatWorkloadRates((*j)["observer"], 15).c_str());
  return 0;
}

int RunTop(const TopOptions& o) {
  const bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  termios saved{};
  if (tty) {  // single keys without Enter, restored on exit
    tcgetattr(STDIN_FILENO, &saved);
    termios raw = saved;
    raw.c_lflag &= ~(ICANON | ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  }
  int exit_code = 0;
  for (int i = 0; o.iterations == 0 || i < o.iterations; i++) {
    auto j = ReadStatusJson(o.state_dir);
    std::string screen = tty ? "\033[H\033[2J" : "";
    if (!j) {
      screen += "schedwarden top: " + j.error().message + "\n";
      exit_code = 1;
    } else {
      exit_code = 0;
      auto model = StatusFromJson(*j);
      // What the numbers are and how fresh: the agent's last interval (UTC) and its length,
      // and how often this screen is redrawn.
      const double interval =
          j->contains("observer") ? (*j)["observer"].value("interval_s", 0.0) : 0.0;
      const std::string updated =
          model ? FormatWallTime(std::chrono::nanoseconds(model->updated_ns)).substr(11, 8) : "-";
      const std::string every =
          interval > 0 ? std::to_string(static_cast<int>(interval * 1000 + 0.5)) + "ms" : "-";
      const std::string head = "schedwarden top  mode " + (model ? model->mode : "?") +
                               "  updated " + updated + "  interval " + every;
      screen += head + "\nUTC; refreshed every 1s; q quits\n\n";
      if (j->contains("observer")) screen += FormatWorkloadRates((*j)["observer"], 30);
      if (model && !model->recent.empty()) {
        screen += "\nRECENT ACTIONS\n";
        size_t from = model->recent.size() > 5 ? model->recent.size() - 5 : 0;
        for (size_t k = from; k < model->recent.size(); k++) {
          const auto& d = model->recent[k];
          screen +=
              ShortenEnd(FormatWallTime(d.wall).substr(11, 8) + " " + d.action + " " +
                             ShortenMiddle(d.workload, 24) + " [" + d.result + "] " + d.reason,
                         80) +
              "\n";
        }
      }
    }
    std::fwrite(screen.data(), 1, screen.size(), stdout);
    std::fflush(stdout);
    if (o.iterations != 0 && i + 1 >= o.iterations) break;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (tty && poll(&p, 1, 1000) > 0) {
      char c = 0;
      if (read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q')) break;
    } else if (!tty) {
      sleep(1);
    }
  }
  if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  return exit_code;
}

int RunCheckConfig(const std::string& path) {
  // The capacity checks need this machine's cores and threads, as the agent will see them.
  auto machine = LoadLiveTopology();
  if (!machine)
    std::fprintf(stderr,
                 "warning: cannot read this machine's CPU topology (%s): checking value ranges "
                 "only, not the exclusive capacity on this machine\n",
                 machine.error().message.c_str());
  CheckConfigReport r = CheckConfig(path, machine ? &*machine : nullptr);
  std::FILE* out = r.exit_code == 0 ? stdout : stderr;
  std::fprintf(out, "%s", r.text.c_str());
  return r.exit_code;
}

int RunVersion() {
  std::printf("schedwarden %s (commit %s)\n", SCHEDWARDEN_VERSION, SCHEDWARDEN_GIT_COMMIT);
  return 0;
}

}  // namespace sw

// One function per subcommand; each returns the process exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace sw {

// Exit codes of `run` besides 0 (stopped by SIGTERM/SIGINT, everything undone) and 1 (any other
// failure, named on stderr); docs/operations.md, "Exit codes".
inline constexpr int kExitNoKernelSupport = 3;  // no kernel BTF: no restart or config fixes it

// A fatal error with its own exit code; main() prints what() and returns code.
struct ExitError : std::runtime_error {
  ExitError(int exit_code, const std::string& what) : std::runtime_error(what), code(exit_code) {}
  int code;
};

struct RunOptions {
  std::string config_path;  // empty: embedded default config
  std::string listen;       // empty: config's listen
  std::string state_dir;    // empty: config's state_dir
  std::string mode;         // empty: config's enforcement.mode
  std::string on_stop;      // empty: config's enforcement.on_stop
  std::string log_level = "info";
};

struct RestoreOptionsCli {
  std::string state_dir = "/var/lib/schedwarden";
  // After restoring: a journal left holding only corrupt records is renamed aside
  // (SetJournalAside) so the agent can start; outstanding changes are never set aside.
  bool set_aside_corrupt = false;
};

struct StatusOptions {
  std::string state_dir = "/var/lib/schedwarden";
  bool json = false;
};

struct TopOptions {
  std::string state_dir = "/var/lib/schedwarden";
  int iterations = 0;
};

int RunAgent(const RunOptions& options);
int RunRestore(const RestoreOptionsCli& options);
int RunStatus(const StatusOptions& options);
int RunTop(const TopOptions& options);
int RunCheckConfig(const std::string& path);
int RunVersion();

}  // namespace sw

// schedwarden: command-line entry. Parses arguments and dispatches to one function per
// subcommand; the agent itself lives in agent.cpp. Fatal start-up errors are exceptions caught
// here.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "cli/version.h"
#include "config/config.h"

int main(int argc, char** argv) {
  CLI::App app{
      "schedwarden: observes scheduler interference between workloads with eBPF, "
      "exports it to Prometheus and isolates latency-critical work"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(SCHEDWARDEN_VERSION));

  sw::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "run the agent (observe; enforce when configured)");
  run_cmd->add_option("--config", run.config_path, "YAML config file (default: embedded config)");
  run_cmd->add_option("--listen", run.listen, "metrics address host:port (default 127.0.0.1:9750)");
  run_cmd->add_option("--state-dir", run.state_dir,
                      "journal, audit log and status (default /var/lib/schedwarden)");
  run_cmd->add_option("--mode", run.mode, "override enforcement.mode: observe, dry-run or enforce")
      ->check([](const std::string& s) {
        return sw::ParseEnforcementMode(s)
                   ? std::string()
                   : std::string("must be one of: ") + sw::kEnforcementModeChoices;
      });
  run_cmd
      ->add_option("--on-stop", run.on_stop,
                   "override enforcement.on_stop: restore (undo every change) or handover "
                   "(leave them for the next start to adopt)")
      ->check([](const std::string& s) {
        return sw::ParseOnStop(s) ? std::string()
                                  : std::string("must be one of: ") + sw::kOnStopChoices;
      });
  run_cmd->add_option("--log-level", run.log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  sw::RestoreOptionsCli restore;
  auto* restore_cmd = app.add_subcommand(
      "restore", "undo every change recorded in the journal (after an agent died)");
  restore_cmd->add_option("--state-dir", restore.state_dir, "state directory of the agent");
  restore_cmd->add_flag("--set-aside-corrupt", restore.set_aside_corrupt,
                        "after restoring, rename a journal whose only leftovers are corrupt "
                        "records (inspect them first) to journal.aside-<time>");

  sw::StatusOptions status;
  auto* status_cmd = app.add_subcommand(
      "status", "classes, objectives, current p99, exclusive cores and recent actions");
  status_cmd->add_option("--state-dir", status.state_dir, "state directory of the agent");
  status_cmd->add_flag("--json", status.json, "machine-readable output");

  sw::TopOptions top;
  auto* top_cmd = app.add_subcommand("top", "live terminal view of workloads and interference");
  top_cmd->add_option("--state-dir", top.state_dir, "state directory of the agent");
  top_cmd->add_option("--iterations,-n", top.iterations, "stop after N refreshes (0: run until q)");

  std::string check_path;
  auto* check_cmd = app.add_subcommand("check-config", "validate a config file and print it");
  check_cmd->add_option("FILE", check_path, "YAML config file")->required();

  auto* version_cmd = app.add_subcommand("version", "print version and build information");

  CLI11_PARSE(app, argc, argv);

  try {
    if (*run_cmd) return sw::RunAgent(run);
    if (*restore_cmd) return sw::RunRestore(restore);
    if (*status_cmd) return sw::RunStatus(status);
    if (*top_cmd) return sw::RunTop(top);
    if (*check_cmd) return sw::RunCheckConfig(check_path);
    if (*version_cmd) return sw::RunVersion();
  } catch (const sw::ExitError& e) {
    std::fprintf(stderr, "schedwarden: %s\n", e.what());
    return e.code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "schedwarden: %s\n", e.what());
    return 1;
  }
  return 2;
}

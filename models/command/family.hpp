#pragma once
// The `command` family: any training program, one process per trial (docs/guide/models.md; files: docs/formats.md).
//
//   "family": "command",
//   "command": {"argv": ["python3", "train.py", "--lr", "{lr}", "--out", "{trial_dir}"],
//               "params": {"lr": 0.001, "hidden": 64},  // every parameter, with its default
//               "metrics": ["val_loss", "test_loss"],
//               "resource": "epochs",                   // optional: the unit of "step"
//               "grace_s": 10, "interrupted_exit": 75, "env": {"NAME": "value"},
//               "log_max_bytes": 67108864,                // per stream and run, in log.txt
//               "inputs": ["{cwd}/model.py", "/data/lab"]}  // more files to fingerprint
//
// In: the trial directory is the working directory, with config.json (parameters, seed, trial
// id, data block, device, resource limit); argv with {placeholders} filled in, exec'd without
// a shell; NEUROSWEEP_* variables, CUDA_VISIBLE_DEVICES and OMP_NUM_THREADS. Out: JSON lines
// on stdout or in $NEUROSWEEP_REPORTS: {"step": s, "metrics": {...}} (reports, for early
// stopping) and {"final": {...}}; other output goes to the trial's log.txt. Exit 0 = done,
// `interrupted_exit` = checkpointed after a SIGTERM (resumed in the same directory), anything
// else = failed. When the program ends (or is ended), every process it left behind is ended too,
// including those that left its process group (ChildProcess::end_strays).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/trial_runner.hpp"

namespace ns::models::command {

/// The spec's "command" block, checked.
struct CommandOptions {
  std::vector<std::string> argv;
  nlohmann::json params = nlohmann::json::object();  ///< name -> default
  std::vector<std::string> metrics;
  std::string resource;             ///< "" = no early stopping
  double grace_s = 10;              ///< SIGTERM, then SIGKILL after this long
  int interrupted_exit = 75;        ///< EX_TEMPFAIL: "stopped on request, state saved"
  std::vector<std::pair<std::string, std::string>> env;
  /// What log.txt keeps of each stream (stdout, stderr) per run of the program; the rest is
  /// dropped, and the log says where ("[neurosweep: log truncated after N bytes of stdout]").
  std::int64_t log_max_bytes = std::int64_t{64} << 20;
  /// Files or directories the program depends on besides those argv names (modules it
  /// imports, a config it reads): their content enters the sweep's input digests.
  std::vector<std::string> inputs;
};

/// Checks the block (`where` names it in errors: "spec.json: $.command"); throws ns::Error.
CommandOptions parse_command_options(const nlohmann::json& block, const std::string& where);

/// The names a placeholder may use besides the parameters.
const std::vector<std::string>& builtin_placeholders();

/// `arg` with every {name} replaced by `values[name]` ({{ and }} are literal braces); throws
/// ns::Error naming the unknown placeholder or an unmatched brace.
std::string substitute(const std::string& arg, const nlohmann::json& values);

/// neurosweep's working directory (absolute): the `{cwd}` placeholder, and what a relative
/// program path (argv[0] with a '/') is taken from, both at plan time and when a trial starts
/// in its own directory.
const std::filesystem::path& launch_dir();

/// `name` as execvp would find it (a path as given, else the first executable in PATH), or ""
/// when there is none.
std::string find_program(const std::string& name);

std::unique_ptr<engine::ModelFamily> command_family();

}  // namespace ns::models::command

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/json_text.hpp"
#include "core/file.hpp"
#include "core/log.hpp"
#include "launch/launch.hpp"

namespace fs = std::filesystem;

namespace ns::launch {
namespace {

// What the command line gives; resolved into JobOptions by run().
struct CliState {
  JobOptions o;
  std::string spec, out, name, binary, script, template_file;
  bool submit = false;
};

std::string absolute(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

nlohmann::json read_spec(const std::string& path) {
  const nlohmann::json j = core::read_json_file(path, core::JsonLimits::spec());
  NS_CHECK(j.is_object(), "sweep spec '{}' is not a JSON object (found {}); a spec looks like "
                          "{{\"name\": ..., \"family\": ..., \"out\": ...}}", path, j.type_name());
  return j;
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& path) {
  return core::JsonFields(j, path + ": $").string(key, "", /*non_empty=*/true);
}

std::string self_binary() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("neurosweep") : p.string();
}

void write_script(const Job& job) {
  const fs::path path(job.script_path);
  NS_CHECK(!path.parent_path().empty() && fs::is_directory(path.parent_path()),
           "cannot write the job script '{}'; choose another place with --script", path.string());
  core::write_file_atomic(path, job.text, kExitBadInput,
                          fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
}

int run(CliState& st) {
  const nlohmann::json spec = read_spec(st.spec);
  JobOptions o = st.o;
  o.spec = absolute(st.spec);
  o.name = !st.name.empty() ? st.name : string_field(spec, "name", st.spec);
  if (o.name.empty()) o.name = fs::path(st.spec).stem().string();
  std::string out = !st.out.empty() ? st.out : string_field(spec, "out", st.spec);
  if (out.empty()) {
    // The engine's default for a spec without "out": the name must stay one path component.
    NS_CHECK(core::is_plain_name(o.name),
             "{}: $.name (or --name): expected a name of letters, digits, '.', '_', '-' (at most "
             "200, not starting with '.'; the output directory is runs/<name>), got {}; or set "
             "\"out\" / --out",
             st.spec, core::shown(nlohmann::json(o.name)));
    out = "runs/" + o.name;
  }
  o.out = absolute(out);
  NS_CHECK(!fs::exists(o.out) || fs::is_directory(o.out),
           "output path '{}' is a file, not a directory; set \"out\" in the spec or pass --out DIR",
           o.out);
  o.binary = !st.binary.empty() ? st.binary : o.image.empty() ? self_binary() : "neurosweep";
  o.script = absolute(!st.script.empty()
                          ? st.script
                          : (fs::path(o.out) / fmt::format("job-{}.sh", scheduler_name(o.scheduler)))
                                .string());

  const std::string tmpl = st.template_file.empty() ? "" : load_template(o.scheduler, st.template_file);
  const Job job = make_job(o, tmpl);
  // Valid input, but most likely not what the user meant: warn once, write the job anyway.
  if (const std::string w = gpu_image_warning(o); !w.empty()) ns::log::warn("{}", w);

  // The scheduler opens the log files before the script runs, so their folder must exist now.
  std::error_code ec;
  fs::create_directories(fs::path(o.out) / "logs", ec);
  NS_CHECK(!ec, "cannot create the output directory '{}/logs': {}", o.out, ec.message());
  fs::create_directories(fs::path(job.script_path).parent_path(), ec);
  NS_CHECK(!ec, "cannot create the folder of '{}': {}", job.script_path, ec.message());
  write_script(job);

  ns::log::info("wrote {} ({}); submit it with:", job.script_path,
                job.ranks > 0 ? fmt::format("{} MPI ranks", job.ranks)
                              : std::string("one rank per core, counted when the job starts"));
  std::printf("%s\n", job.submit_command.c_str());
  std::fflush(stdout);
  if (!st.submit) return kExitOk;

  const int status = std::system(job.submit_command.c_str());
  const int code = status == -1 ? 127 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (o.scheduler == Scheduler::kLocal) return code;  // the sweep's own status (3: resumable)
  if (code != 0) {
    ns::log::error("`{}` failed with status {}; the script is written, fix the cause and submit "
                   "it by hand", job.submit_command, code);
    return kExitInternal;
  }
  return kExitOk;
}

void add_scheduler(CLI::App* launch, Scheduler s, const std::string& help,
                   std::function<int()>& action) {
  auto st = std::make_shared<CliState>();
  st->o.scheduler = s;
  JobOptions& o = st->o;
  CLI::App* sub = launch->add_subcommand(scheduler_name(s), help);
  sub->add_option("spec", st->spec, "sweep spec (JSON)")->required();
  sub->add_option("run-args", o.run_args,
                  "after '--': arguments for `neurosweep run` (e.g. -- --deadline 3h)");
  sub->add_option("--out", st->out, "output directory (default: the spec's \"out\")");
  sub->add_option("--name", st->name, "job name (default: the spec's \"name\")");
  const bool sched = s != Scheduler::kLocal;
  if (sched) sub->add_option("--nodes", o.nodes, "nodes (hosts)")->capture_default_str();
  sub->add_option("--ranks-per-node", o.ranks_per_node,
                  "worker ranks per node; the coordinator is one more rank (default: one per GPU, "
                  "without GPUs one rank per core)");
  sub->add_option("--gpus-per-node", o.gpus_per_node, "GPUs per node")->capture_default_str();
  sub->add_option("--cpus-per-rank", o.cpus_per_rank, "CPU cores per rank (and OMP_NUM_THREADS)");
  if (sched) {
    sub->add_option("--mem-per-rank", o.mem_per_rank, "memory per rank, e.g. 8G");
    sub->add_option("--time", o.time, "time limit, e.g. 4h, 90m, 1-12:00:00");
    sub->add_option("--partition,--queue", o.partition, "partition (Slurm) or queue (LSF)");
    sub->add_option("--account,--group", o.account, "account (Slurm) or user group (LSF -G)");
    sub->add_option("--extra", o.extra, "extra scheduler line, repeatable (--extra=--qos=high)")
        ->allow_extra_args(false);
    sub->add_option("--max-resubmits", o.max_resubmits,
                    "follow-up jobs after drains at the time limit")
        ->capture_default_str();
  }
  sub->add_option("--max-crash-resubmits", o.max_crash_resubmits,
                  sched ? "follow-up jobs after an abnormal end (killed ranks, a crash, a lost "
                          "node: any status but 0, 2, 3, 4, 5); 0: none"
                        : "reruns after an abnormal end (killed ranks, a crash: any status but "
                          "0, 2, 3, 4, 5); 0: none")
      ->capture_default_str();
  sub->add_option("--crash-pause", o.crash_pause_s,
                  sched ? "seconds to wait before resubmitting after an abnormal end"
                        : "seconds to wait before rerunning after an abnormal end")
      ->capture_default_str();
  sub->add_option("--image", o.image, "container image (Docker/enroot name or .sif file)");
  sub->add_option("--container", o.container,
                  "container runtime: auto (default: .sif -> apptainer, else pyxis on Slurm, docker "
                  "on LSF/local), pyxis, apptainer, docker");
  sub->add_option("--mount", o.mounts, "extra container mount SRC[:DST[:FLAGS]], repeatable")
        ->allow_extra_args(false);
  sub->add_option("--setup", o.setup, "shell line run before the launch, repeatable "
                                      "(--setup 'module load openmpi')")
        ->allow_extra_args(false);
  sub->add_option("--script", st->script, "where to write the script (default OUT/job-<scheduler>.sh)");
  sub->add_option("--template", st->template_file,
                  "template file instead of the built-in one (see NS_LAUNCH_TEMPLATES)");
  sub->add_option("--binary", st->binary,
                  "neurosweep as the job sees it (default: this binary; `neurosweep` in an image)");
  if (s == Scheduler::kSlurm) {
    sub->add_option("--launcher", o.launcher, "srun (--mpi=pmix) or mpirun")->capture_default_str();
    sub->add_option("--signal-margin", o.signal_margin_s,
                    "seconds before the time limit that USR1 starts the drain (default: a tenth "
                    "of --time, 30..300 s)");
  }
  sub->add_flag("--submit", st->submit, s == Scheduler::kLocal ? "run the script now"
                                                                : "submit the script now");
  sub->callback([st, &action] {
    action = [st]() -> int {
      try {
        return run(*st);
      } catch (const ns::Error& e) {
        ns::log::error("{}", e.what());
        return e.exit_code();
      } catch (const fs::filesystem_error& e) {
        ns::log::error("{}", e.what());
        return kExitBadInput;
      }
    };
  });
}

}  // namespace

void add_launch_command(CLI::App& root, std::function<int()>& action) {
  CLI::App* launch = root.add_subcommand(
      "launch", "write a job script for a sweep (Slurm, LSF or this machine) and print the "
                "command that submits it");
  launch->require_subcommand(1);
  add_scheduler(launch, Scheduler::kSlurm, "sbatch script: srun --mpi=pmix, USR1 drain before "
                                           "the time limit, resubmission until the sweep is done",
                action);
  add_scheduler(launch, Scheduler::kLsf, "bsub script: mpirun over the job's hosts, RIS Docker "
                                         "form with --image, resubmission", action);
  add_scheduler(launch, Scheduler::kLocal, "mpirun script for this machine (Ctrl-C drains)",
                action);
}

}  // namespace ns::launch

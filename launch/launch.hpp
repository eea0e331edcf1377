#pragma once
// `neurosweep launch slurm|lsf|local SWEEP.json`: writes a job script that runs `neurosweep run`
// under a scheduler (or mpirun on this machine) and prints the command that submits it.
//
// The scripts come from templates (launch/templates/*.sh.in, embedded in the binary at build
// time; a directory named by the environment variable NS_LAUNCH_TEMPLATES, or --template FILE,
// replaces them). A template is plain text with {{placeholders}}; make_job() fills every one.
// Torch-free and MPI-free: this library only writes text and runs the submit command.
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace ns::launch {

enum class Scheduler { kSlurm, kLsf, kLocal };

/// "slurm", "lsf", "local".
const char* scheduler_name(Scheduler s);

/// Everything a job script depends on. Paths are absolute (the CLI resolves them); the values
/// that are 0 or empty mean "the default" as documented per field.
struct JobOptions {
  Scheduler scheduler = Scheduler::kSlurm;
  std::string spec;    ///< sweep spec (absolute path)
  std::string out;     ///< output directory of the sweep (absolute path)
  std::string name;    ///< job name (characters other than [A-Za-z0-9._-] become '_')
  std::string binary;  ///< neurosweep as the job sees it ("neurosweep" inside an image)
  std::string script;  ///< where the script is written (absolute path)

  int nodes = 1;           ///< Slurm/LSF hosts
  int ranks_per_node = 0;  ///< worker ranks per node (the coordinator is one more, on the first
                           ///< node); 0: one per GPU, or without GPUs one rank per core
  int gpus_per_node = 0;
  int cpus_per_rank = 0;      ///< 0: scheduler default (1); also `run --threads` and OMP_NUM_THREADS
  std::string mem_per_rank;   ///< "4G", "500M", MB when bare; empty: scheduler default
  std::string time;           ///< "4h", "90m", "1-12:00:00", "30" (minutes); empty: queue default
  std::string partition;      ///< Slurm partition / LSF queue
  std::string account;        ///< Slurm account / LSF user group (-G)
  std::string image;          ///< container image; empty: run on the host
  std::string container;      ///< auto|pyxis|apptainer|docker (auto: .sif -> apptainer,
                              ///< else pyxis on Slurm, docker on LSF and local)
  std::vector<std::string> mounts;  ///< extra container mounts SRC[:DST[:FLAGS]]
  std::vector<std::string> extra;   ///< extra scheduler lines ("--qos=high" or "#SBATCH ...")
  std::vector<std::string> setup;   ///< shell lines run before the launch (module load, ...)
  std::vector<std::string> run_args;  ///< appended to `neurosweep run SPEC --out OUT`
  std::string launcher = "srun";  ///< Slurm only: srun (--mpi=pmix) or mpirun
  int signal_margin_s = -1;  ///< Slurm USR1 warning before the time limit; -1: core::signal_margin_s()
  int max_resubmits = 10;    ///< follow-up jobs after drains at the time limit
  int max_crash_resubmits = 3;  ///< follow-up jobs (local: reruns) after an abnormal end (any
                                ///< status but 0, 2, 3, 4, 5), counted apart from the drains
  int crash_pause_s = 60;       ///< seconds the script waits before such a resubmission
};

/// A rendered job script and how to submit it.
struct Job {
  std::string script_path;
  std::string text;            ///< the script
  std::string submit_command;  ///< shell command line that submits (or, local, runs) it
  int ranks = 0;               ///< MPI ranks; 0 when the script counts cores at run time
};

/// Validates the options and renders the script from the template for the scheduler
/// (template_text overrides it when not empty). Pure: touches no file. Throws ns::Error.
Job make_job(const JobOptions& o, const std::string& template_text = "");

/// The template for a scheduler: the file --template names, else NS_LAUNCH_TEMPLATES/<s>.sh.in,
/// else the copy embedded at build time.
std::string load_template(Scheduler s, const std::string& template_file = "");

/// Replaces each {{key}} in `text` by vars[key]. Throws ns::Error naming `where` for a
/// placeholder with no value.
std::string render(const std::string& text, const std::map<std::string, std::string>& vars,
                   const std::string& where);

/// Megabytes in a size: "512M", "4G", "4GB", "1T", bare numbers are MB. Throws ns::Error.
long parse_size_mb(const std::string& text, const std::string& what);
/// Slurm time limit text, "[D-]HH:MM:SS".
std::string slurm_time(long seconds);
/// LSF -W text, "H:MM" (rounded up to a minute).
std::string lsf_time(long seconds);

/// Whether a container image reference looks like neurosweep's CPU image (Dockerfile,
/// neurosweep.def: Debian's CPU-only LibTorch). The name is the last path component of the
/// reference without registry, folders, tag or digest ("ghcr.io/lab/neurosweep:0.1" ->
/// "neurosweep", "/images/neurosweep.sif" -> "neurosweep"); it is the CPU image when that name
/// contains "neurosweep" and neither the name nor the tag has a GPU marker: "gpu", "cuda", or "cu"
/// followed by a digit ("cu124"), case-insensitive. Images of other names are not judged.
bool is_cpu_image(const std::string& image);

/// The one-line warning for a job that asks for GPUs (--gpus-per-node > 0) in the CPU image
/// (is_cpu_image), or "" when there is nothing to say. Not an error: the job is still written.
std::string gpu_image_warning(const JobOptions& o);

/// Quotes a word for bash (unchanged when it needs no quoting).
std::string shell_quote(const std::string& word);

/// Adds the `launch` command with slurm, lsf and local subcommands to `root`. When one of them
/// is parsed, its callback sets `action` to a function that writes the script (and submits it
/// with --submit) and returns the exit code: 0 ok, 2 bad input, 1 when submitting failed, or
/// the script's own status for `launch local --submit`.
void add_launch_command(CLI::App& root, std::function<int()>& action);

}  // namespace ns::launch

// Golden-file tests of the generated job scripts, and the validation of launch options.
// Regenerate the goldens after an intended template change:
//   NS_UPDATE_GOLDEN=1 ctest --test-dir build -R test_launch    (then review `git diff`)
#include "catch.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "launch/launch.hpp"

namespace fs = std::filesystem;
using namespace ns::launch;
using ns::core::parse_duration_s;
using default_margin_fn = int (*)(long);
static const default_margin_fn default_margin = ns::core::signal_margin_s;

namespace {

std::string source_dir() {
  const char* s = std::getenv("NS_SOURCE_DIR");
  REQUIRE(s != nullptr);
  return s;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The options of a realistic sweep; each test changes what it is about.
JobOptions base(Scheduler s) {
  JobOptions o;
  o.scheduler = s;
  o.spec = "/data/sweeps/v1_maskcnn.json";
  o.out = "/scratch/runs/v1_maskcnn";
  o.name = "v1 maskcnn";  // the space becomes '_' in the job name
  o.binary = "/opt/neurosweep/bin/neurosweep";
  o.script = std::string("/scratch/runs/v1_maskcnn/job-") + scheduler_name(s) + ".sh";
  return o;
}

// Compares with tests/launch/golden/<name>.sh and checks bash can parse the script.
void check_golden(const std::string& name, const Job& job) {
  const fs::path golden = fs::path(source_dir()) / "tests/launch/golden" / (name + ".sh");
  if (const char* u = std::getenv("NS_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::ofstream(golden, std::ios::binary) << job.text;
  }
  const fs::path actual = fs::temp_directory_path() / ("ns_launch_" + name + ".sh");
  std::ofstream(actual, std::ios::binary) << job.text;
  INFO("golden " << golden.string() << " differs from " << actual.string()
                 << " (diff them; NS_UPDATE_GOLDEN=1 rewrites the golden)");
  REQUIRE(fs::exists(golden));
  CHECK(slurp(golden) == job.text);
  INFO("bash -n " << actual.string());
  CHECK(std::system(("bash -n " + actual.string()).c_str()) == 0);
  if (slurp(golden) == job.text) fs::remove(actual);  // kept only to diff a mismatch
}

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l == line) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("slurm: GPU nodes, one rank per GPU plus the coordinator", "[launch][golden]") {
  JobOptions o = base(Scheduler::kSlurm);
  o.nodes = 2;
  o.gpus_per_node = 4;
  o.cpus_per_rank = 8;
  o.mem_per_rank = "32G";
  o.time = "4h";
  o.partition = "gpu";
  o.account = "lab-v1";
  o.extra = {"--qos=high", "#SBATCH --constraint=a100"};
  o.setup = {"module load openmpi/4.1"};
  Job job = make_job(o);
  CHECK(job.ranks == 9);
  CHECK(job.submit_command == "sbatch /scratch/runs/v1_maskcnn/job-slurm.sh");
  CHECK(has_line(job.text, "#SBATCH --ntasks-per-node=5"));
  CHECK(has_line(job.text, "#SBATCH --gres=gpu:4"));
  CHECK(has_line(job.text, "#SBATCH --mem-per-cpu=4096M"));
  CHECK(has_line(job.text, "#SBATCH --time=04:00:00"));
  CHECK(has_line(job.text, "#SBATCH --signal=B:USR1@300"));
  CHECK(has_line(job.text, "#SBATCH --qos=high"));
  CHECK(has_line(job.text, "#SBATCH --job-name=v1_maskcnn"));
  CHECK(has_line(job.text, "ns_ntasks=9"));
  check_golden("slurm_gpu", job);
}

TEST_CASE("slurm: CPU partition counts one rank per core at run time", "[launch][golden]") {
  JobOptions o = base(Scheduler::kSlurm);
  o.time = "90m";
  Job job = make_job(o);
  CHECK(job.ranks == 0);
  CHECK(has_line(job.text, "#SBATCH --exclusive"));
  CHECK(has_line(job.text, "#SBATCH --signal=B:USR1@300"));  // 90 min / 10 = 540 s, capped
  CHECK(job.text.find("srun --mpi=pmix") != std::string::npos);
  check_golden("slurm_cpu", job);
}

TEST_CASE("slurm: pyxis container form", "[launch][golden]") {
  JobOptions o = base(Scheduler::kSlurm);
  o.gpus_per_node = 1;
  o.time = "30m";
  o.image = "ghcr.io/lab/neurosweep:0.1";
  o.binary = "neurosweep";
  o.mounts = {"/data/v1:/data/v1:ro"};
  o.max_resubmits = 3;
  o.max_crash_resubmits = 5;
  o.crash_pause_s = 120;
  Job job = make_job(o);
  CHECK(job.ranks == 2);
  CHECK(has_line(job.text, "ns_max_crash_resubmits=5"));
  CHECK(has_line(job.text, "ns_crash_pause=120"));
  CHECK(job.text.find("--container-image=ghcr.io/lab/neurosweep:0.1") != std::string::npos);
  CHECK(job.text.find("--container-mounts=/data/sweeps:/data/sweeps,/scratch/runs/v1_maskcnn:/"
                      "scratch/runs/v1_maskcnn,/data/v1:/data/v1:ro") != std::string::npos);
  CHECK(has_line(job.text, "#SBATCH --signal=B:USR1@180"));
  check_golden("slurm_pyxis", job);
}

TEST_CASE("slurm: mpirun launcher with an Apptainer image", "[launch][golden]") {
  JobOptions o = base(Scheduler::kSlurm);
  o.launcher = "mpirun";
  o.ranks_per_node = 3;
  o.time = "1-12:00:00";
  o.signal_margin_s = 600;
  o.image = "/images/neurosweep.sif";
  o.binary = "neurosweep";
  o.run_args = {"--deadline-margin", "60"};
  Job job = make_job(o);
  CHECK(job.ranks == 4);
  CHECK(has_line(job.text, "#SBATCH --time=1-12:00:00"));
  CHECK(has_line(job.text, "#SBATCH --signal=B:USR1@600"));
  CHECK(job.text.find("apptainer exec --bind") != std::string::npos);
  check_golden("slurm_mpirun_apptainer", job);
}

TEST_CASE("lsf: RIS Docker form", "[launch][golden]") {
  JobOptions o = base(Scheduler::kLsf);
  o.gpus_per_node = 1;
  o.mem_per_rank = "16G";
  o.time = "2h";
  o.partition = "general";
  o.account = "compute-lab";
  o.image = "lab/neurosweep:0.1";
  o.binary = "neurosweep";
  o.mounts = {"/storage1/fs1/lab/Active"};
  Job job = make_job(o);
  CHECK(job.ranks == 2);
  CHECK(has_line(job.text, "#BSUB -n 2"));
  CHECK(has_line(job.text, "#BSUB -R \"rusage[mem=16384MB] span[hosts=1]\""));
  CHECK(has_line(job.text, "#BSUB -gpu \"num=1\""));
  CHECK(has_line(job.text, "#BSUB -q general"));
  CHECK(has_line(job.text, "#BSUB -W 2:00"));
  CHECK(has_line(job.text, "#BSUB -G compute-lab"));
  CHECK(has_line(job.text, "#BSUB -a \"docker(lab/neurosweep:0.1)\""));
  CHECK(has_line(job.text, "#BSUB -o /scratch/runs/v1_maskcnn/logs/lsf-%J.out"));
  CHECK(has_line(job.text, "#BSUB -e /scratch/runs/v1_maskcnn/logs/lsf-%J.err"));
  CHECK(has_line(job.text, "export LSF_DOCKER_NETWORK=host LSF_DOCKER_IPC=host"));
  CHECK(job.submit_command.rfind("LSF_DOCKER_NETWORK=host LSF_DOCKER_IPC=host LSF_DOCKER_VOLUMES=",
                                 0) == 0);
  CHECK(job.submit_command.find("bsub < /scratch/runs/v1_maskcnn/job-lsf.sh") != std::string::npos);
  check_golden("lsf_docker", job);
}

TEST_CASE("lsf: several CPU hosts", "[launch][golden]") {
  JobOptions o = base(Scheduler::kLsf);
  o.nodes = 3;
  o.ranks_per_node = 15;
  o.cpus_per_rank = 2;
  o.time = "45m";
  Job job = make_job(o);
  CHECK(job.ranks == 46);
  CHECK(has_line(job.text, "#BSUB -n 46"));
  CHECK(has_line(job.text, "#BSUB -R \"span[ptile=16]\""));
  CHECK(has_line(job.text, "#BSUB -W 0:45"));
  CHECK(has_line(job.text, "export OMP_NUM_THREADS=2  # threads per rank = --cpus-per-rank"));
  check_golden("lsf_cpu", job);
}

TEST_CASE("local: mpirun on this machine", "[launch][golden]") {
  JobOptions o = base(Scheduler::kLocal);
  Job job = make_job(o);
  CHECK(job.ranks == 0);
  CHECK(job.submit_command == "bash /scratch/runs/v1_maskcnn/job-local.sh");
  check_golden("local_cpu", job);

  o.gpus_per_node = 2;
  o.run_args = {"--deadline", "3h"};
  job = make_job(o);
  CHECK(job.ranks == 3);
  check_golden("local_gpu", job);
}

TEST_CASE("durations, sizes and margins", "[launch]") {
  CHECK(parse_duration_s("90s", "--time") == 90);
  CHECK(parse_duration_s("1h30m", "--time") == 5400);
  CHECK(parse_duration_s("2d", "--time") == 172800);
  CHECK(parse_duration_s("30", "--time") == 1800);  // Slurm: bare minutes
  CHECK(parse_duration_s("1:30", "--time") == 90);  // Slurm: MM:SS
  CHECK(parse_duration_s("04:00:00", "--time") == 14400);
  CHECK(parse_duration_s("1-12", "--time") == 129600);
  CHECK(parse_duration_s("1-00:30", "--time") == 88200);
  for (const char* bad : {"", "abc", "4x", "1:2:3:4", "h", "-1", "1:", "0"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_duration_s(bad, "--time"), ns::Error);
  }
  CHECK_THROWS_WITH(parse_duration_s("4 hours", "--time"),
                    Catch::Contains("--time '4 hours' is not a duration"));
  CHECK(slurm_time(90) == "00:01:30");
  CHECK(slurm_time(129600) == "1-12:00:00");
  CHECK(lsf_time(90) == "0:02");
  CHECK(lsf_time(14400) == "4:00");
  CHECK(parse_size_mb("4G", "m") == 4096);
  CHECK(parse_size_mb("4gb", "m") == 4096);
  CHECK(parse_size_mb("1.5G", "m") == 1536);
  CHECK(parse_size_mb("500", "m") == 500);
  CHECK(parse_size_mb("1T", "m") == 1048576);
  CHECK_THROWS_WITH(parse_size_mb("lots", "--mem-per-rank"),
                    Catch::Contains("--mem-per-rank 'lots' is not a memory size"));
  CHECK_THROWS_AS(parse_size_mb("4Q", "m"), ns::Error);
  CHECK(default_margin(0) == 300);
  CHECK(default_margin(40) == 20);
  CHECK(default_margin(60) == 30);
  CHECK(default_margin(1800) == 180);
  CHECK(default_margin(86400) == 300);
  CHECK(shell_quote("/a/b-c_d.json") == "/a/b-c_d.json");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("") == "''");
}

TEST_CASE("invalid options are refused with a message that says how to fix them", "[launch]") {
  JobOptions o = base(Scheduler::kSlurm);
  auto fails_with = [](const JobOptions& bad, const std::string& msg) {
    INFO(msg);
    CHECK_THROWS_WITH(make_job(bad), Catch::Contains(msg));
  };
  {
    auto b = o;
    b.nodes = 0;
    fails_with(b, "--nodes must be at least 1, got 0");
  }
  {
    auto b = o;
    b.gpus_per_node = 2;
    b.ranks_per_node = 3;
    fails_with(b, "--ranks-per-node 3 is more than --gpus-per-node 2");
  }
  {
    auto b = o;
    b.time = "2m";
    b.signal_margin_s = 120;
    fails_with(b, "--signal-margin 120 s is not shorter than --time (120 s)");
  }
  {
    auto b = o;
    b.time = "soon";
    fails_with(b, "--time 'soon' is not a duration");
  }
  {
    auto b = o;
    b.image = "x/y:1";
    b.launcher = "mpirun";
    fails_with(b, "--launcher mpirun cannot start a pyxis container");
  }
  {
    auto b = o;
    b.launcher = "aprun";
    fails_with(b, "--launcher must be srun or mpirun, got 'aprun'");
  }
  {
    auto b = o;
    b.image = "x/y:1";
    b.container = "podman";
    fails_with(b, "--container must be one of auto, pyxis, apptainer, docker; got 'podman'");
  }
  {
    auto b = o;
    b.image = "x/y:1";
    b.mounts = {"data:/data"};
    fails_with(b, "--mount 'data:/data' must start with an absolute host path");
  }
  {
    auto b = o;
    b.out = "/scratch/my runs/x";
    fails_with(b, "output directory '/scratch/my runs/x' contains ' '");
  }
  {
    auto b = o;
    b.extra = {"qos=high"};
    fails_with(b, "--extra 'qos=high' is not a scheduler option");
  }
  {
    auto b = o;
    b.extra = {"#BSUB -q x"};
    fails_with(b, "--extra '#BSUB -q x' is a comment but not a '#SBATCH' line");
  }
  {
    auto b = o;
    b.run_args = {"other.json"};
    fails_with(b, "unexpected argument 'other.json' after the sweep file");
  }
  {
    auto b = o;
    b.max_resubmits = -1;
    fails_with(b, "--max-resubmits must be 0 or more, got -1");
  }
  {
    auto b = o;
    b.max_crash_resubmits = -1;
    fails_with(b, "--max-crash-resubmits must be 0 or more (0: never resubmit after a crash), "
                  "got -1");
  }
  {
    auto b = base(Scheduler::kLocal);
    b.crash_pause_s = -1;
    fails_with(b, "--crash-pause must be 0 or more seconds, got -1");
  }
  {
    auto b = base(Scheduler::kLsf);
    fails_with(b, "LSF needs the number of slots at submission: pass --ranks-per-node");
  }
  {
    auto b = base(Scheduler::kLsf);
    b.ranks_per_node = 2;
    b.image = "x/y:1";
    b.container = "pyxis";
    fails_with(b, "--container pyxis is a Slurm plugin");
  }
  {
    auto b = base(Scheduler::kLocal);
    b.extra = {"--qos=high"};
    fails_with(b, "`launch local` has no scheduler; use --setup");
  }
  {
    auto b = base(Scheduler::kLocal);
    b.nodes = 2;
    fails_with(b, "launch local runs on this machine only (got 2 nodes)");
  }
}

TEST_CASE("templates: placeholders are filled, unknown ones are an error", "[launch]") {
  CHECK(render("a {{x}} b {{y}}", {{"x", "1"}, {"y", "2"}}, "t") == "a 1 b 2");
  CHECK_THROWS_WITH(render("a {{z}}", {{"x", "1"}}, "site.sh.in"),
                    Catch::Contains("template site.sh.in uses {{z}}, which `neurosweep launch` "
                                    "does not fill; known placeholders: {{x}}"));
  CHECK_THROWS_WITH(render("a {{x", {{"x", "1"}}, "t"), Catch::Contains("is never closed"));

  JobOptions o = base(Scheduler::kSlurm);
  Job job = make_job(o, "#!/bin/bash\n{{directives}}\n{{launch}}\n");
  CHECK(job.text.rfind("#!/bin/bash\n#SBATCH --job-name=v1_maskcnn\n", 0) == 0);
  CHECK(job.text.find("{{") == std::string::npos);

  // The built-in templates hold no placeholder make_job does not fill (every scheduler renders).
  for (auto s : {Scheduler::kSlurm, Scheduler::kLsf, Scheduler::kLocal}) {
    JobOptions t = base(s);
    t.ranks_per_node = 1;
    CHECK(make_job(t).text.find("{{") == std::string::npos);
  }
}

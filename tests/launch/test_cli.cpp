// `neurosweep launch ...` as the command line sees it: spec fields, defaults, files written.
#include "catch.hpp"
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "launch/launch.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;

using ns::test::TempDir;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses `neurosweep <args>` with only the launch command and runs what it chose.
int run_cli(std::vector<std::string> args) {
  CLI::App app{"test"};
  app.require_subcommand(1);
  std::function<int()> action;
  ns::launch::add_launch_command(app, action);
  std::vector<const char*> argv{"neurosweep"};
  for (auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  REQUIRE(action);
  return action();
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

// Runs `fn` with stderr (fd 2) going to a file; returns what was written there.
template <typename Fn>
std::string capture_stderr(Fn fn) {
  TempDir t;
  const fs::path file = t.path / "stderr";
  std::fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(saved >= 0);
  REQUIRE(fd >= 0);
  dup2(fd, STDERR_FILENO);
  close(fd);
  try {
    fn();
  } catch (...) {
    std::fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    throw;
  }
  std::fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  return slurp(file);
}

int count_lines_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("launch slurm writes the script where the spec's out points", "[launch][cli]") {
  TempDir t;
  const fs::path out = t.path / "runs" / "quad";
  write(t.path / "quad.json",
        R"({"name": "quad sweep", "family": "quadratic", "out": ")" + out.string() + R"("})");
  REQUIRE(run_cli({"launch", "slurm", (t.path / "quad.json").string(), "--ranks-per-node", "2",
                   "--time", "10m", "--", "--deadline-margin", "15"}) == 0);
  const fs::path script = out / "job-slurm.sh";
  REQUIRE(fs::exists(script));
  CHECK((fs::status(script).permissions() & fs::perms::owner_exec) != fs::perms::none);
  CHECK(fs::is_directory(out / "logs"));  // Slurm opens --output before the script runs
  const std::string text = slurp(script);
  CHECK(text.find("#SBATCH --job-name=quad_sweep\n") != std::string::npos);
  CHECK(text.find("#SBATCH --output=" + out.string() + "/logs/slurm-%j.out\n") != std::string::npos);
  CHECK(text.find("ns_ntasks=3\n") != std::string::npos);
  CHECK(text.find("run " + (t.path / "quad.json").string() + " --out " + out.string() +
                  " --deadline-margin 15") != std::string::npos);
  // This test binary is the one the job would run: no --binary and no image.
  CHECK(text.find(fs::read_symlink("/proc/self/exe").string()) != std::string::npos);
}

TEST_CASE("launch: --out, --script, --name and a spec without out", "[launch][cli]") {
  TempDir t;
  write(t.path / "s.json", R"({"family": "quadratic"})");
  const fs::path script = t.path / "jobs" / "a.sh";
  REQUIRE(run_cli({"launch", "lsf", (t.path / "s.json").string(), "--out",
                   (t.path / "o").string(), "--script", script.string(), "--ranks-per-node", "1",
                   "--name", "mine", "--queue", "general", "--group", "compute-x"}) == 0);
  const std::string text = slurp(script);
  CHECK(text.find("#BSUB -J mine\n") != std::string::npos);
  CHECK(text.find("#BSUB -q general\n") != std::string::npos);
  CHECK(text.find("#BSUB -G compute-x\n") != std::string::npos);
  CHECK(fs::is_directory(t.path / "o" / "logs"));

  // Without "out" the engine writes to runs/<name>; the job name falls back to the file name.
  const fs::path cwd = fs::current_path();
  fs::current_path(t.path);
  int rc = run_cli({"launch", "local", "s.json", "--ranks-per-node", "1"});
  fs::current_path(cwd);
  REQUIRE(rc == 0);
  CHECK(fs::exists(t.path / "runs" / "s" / "job-local.sh"));
}

TEST_CASE("launch: bad input exits 2 and writes nothing", "[launch][cli]") {
  TempDir t;
  CHECK(run_cli({"launch", "slurm", (t.path / "missing.json").string()}) == 2);
  write(t.path / "bad.json", "{\"name\": ");
  CHECK(run_cli({"launch", "slurm", (t.path / "bad.json").string()}) == 2);
  write(t.path / "arr.json", "[1, 2]");
  CHECK(run_cli({"launch", "slurm", (t.path / "arr.json").string()}) == 2);
  write(t.path / "num.json", R"({"name": 3})");
  CHECK(run_cli({"launch", "slurm", (t.path / "num.json").string()}) == 2);

  write(t.path / "ok.json", R"({"name": "ok", "out": ")" + (t.path / "o").string() + R"("})");
  CHECK(run_cli({"launch", "slurm", (t.path / "ok.json").string(), "--time", "forever"}) == 2);
  CHECK(run_cli({"launch", "slurm", (t.path / "ok.json").string(), "--nodes", "0"}) == 2);
  CHECK(run_cli({"launch", "slurm", (t.path / "ok.json").string(), "--max-crash-resubmits",
                 "-1"}) == 2);
  CHECK(run_cli({"launch", "lsf", (t.path / "ok.json").string(), "--ranks-per-node", "1",
                 "--crash-pause", "-5"}) == 2);
  CHECK(run_cli({"launch", "local", (t.path / "ok.json").string(), "--max-crash-resubmits",
                 "-2"}) == 2);
  CHECK_FALSE(fs::exists(t.path / "o"));  // validation happens before anything is created

  // Without "out" the name becomes runs/<name>: "../../x" would write outside runs/.
  write(t.path / "escape.json", R"({"name": "../../x", "family": "quadratic"})");
  const fs::path cwd = fs::current_path();
  fs::create_directories(t.path / "a" / "b");
  fs::current_path(t.path / "a" / "b");
  const int escape_rc = run_cli({"launch", "slurm", (t.path / "escape.json").string()});
  fs::current_path(cwd);
  CHECK(escape_rc == 2);
  CHECK_FALSE(fs::exists(t.path / "x"));

  write(t.path / "file", "x");
  CHECK(run_cli({"launch", "slurm", (t.path / "ok.json").string(), "--out",
                 (t.path / "file").string()}) == 2);

  // Repeatable options take one value each, so the spec after them stays the spec.
  CHECK(run_cli({"launch", "local", "--setup", "module load x", "--mount", "/data",
                 (t.path / "ok.json").string(), "--ranks-per-node", "1"}) == 0);
  CHECK(slurp(t.path / "o" / "job-local.sh").find("\nmodule load x\n") != std::string::npos);

  // The crash bound and pause reach the script; 0 disables crash resubmission.
  CHECK(run_cli({"launch", "slurm", (t.path / "ok.json").string(), "--max-crash-resubmits", "0",
                 "--crash-pause", "7"}) == 0);
  const std::string slurm = slurp(t.path / "o" / "job-slurm.sh");
  CHECK(slurm.find("\nns_max_crash_resubmits=0\n") != std::string::npos);
  CHECK(slurm.find("\nns_crash_pause=7\n") != std::string::npos);

  // Options another scheduler has are parse errors here.
  CHECK_THROWS_AS(run_cli({"launch", "local", (t.path / "ok.json").string(), "--nodes", "2"}),
                  CLI::ParseError);
  CHECK_THROWS_AS(run_cli({"launch", "lsf", (t.path / "ok.json").string(), "--launcher", "srun"}),
                  CLI::ParseError);
  CHECK_THROWS_AS(run_cli({"launch", (t.path / "ok.json").string()}), CLI::ParseError);
}

TEST_CASE("launch: NS_LAUNCH_TEMPLATES and --template replace the built-in templates",
          "[launch][cli]") {
  TempDir t;
  write(t.path / "ok.json", R"({"name": "ok", "out": ")" + (t.path / "o").string() + R"("})");
  fs::create_directories(t.path / "site");
  write(t.path / "site" / "slurm.sh.in", "#!/bin/bash\n{{directives}}\n# site template\n{{launch}}\n");
  setenv("NS_LAUNCH_TEMPLATES", (t.path / "site").c_str(), 1);
  int rc = run_cli({"launch", "slurm", (t.path / "ok.json").string()});
  int rc_lsf = run_cli({"launch", "lsf", (t.path / "ok.json").string(), "--ranks-per-node", "1"});
  unsetenv("NS_LAUNCH_TEMPLATES");
  CHECK(rc == 0);
  CHECK(slurp(t.path / "o" / "job-slurm.sh").find("# site template\n") != std::string::npos);
  CHECK(rc_lsf == 2);  // the site folder has no lsf.sh.in: an error, not a silent fallback

  write(t.path / "one.sh.in", "#!/bin/bash\n{{launch}}\n# one-off {{nope}}\n");
  CHECK(run_cli({"launch", "slurm", (t.path / "ok.json").string(), "--template",
                 (t.path / "one.sh.in").string()}) == 2);
  write(t.path / "one.sh.in", "#!/bin/bash\n{{launch}}\n# one-off\n");
  CHECK(run_cli({"launch", "slurm", (t.path / "ok.json").string(), "--template",
                 (t.path / "one.sh.in").string()}) == 0);
  CHECK(slurp(t.path / "o" / "job-slurm.sh").find("# one-off\n") != std::string::npos);
}

TEST_CASE("launch: GPUs with the CPU image warn on one stderr line; the job is written anyway",
          "[launch][cli]") {
  TempDir t;
  write(t.path / "ok.json", R"({"name": "ok", "out": ")" + (t.path / "o").string() + R"("})");
  const std::string spec = (t.path / "ok.json").string();
  const std::string needle = "looks like the CPU image";
  int rc = -1;

  // The README's CPU image names, on each scheduler and container form: a warning, exit 0.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"launch", "slurm", spec, "--gpus-per-node", "4", "--image",
                                 "ghcr.io/lab/neurosweep:0.1"},
        std::vector<std::string>{"launch", "lsf", spec, "--gpus-per-node", "1", "--image",
                                 "lab/neurosweep:0.1"},
        std::vector<std::string>{"launch", "slurm", spec, "--gpus-per-node", "2", "--image",
                                 "/images/neurosweep.sif"},
        std::vector<std::string>{"launch", "local", spec, "--gpus-per-node", "1", "--image",
                                 "neurosweep"}}) {
    INFO(args[1] << " " << args.back());
    const std::string err = capture_stderr([&] { rc = run_cli(args); });
    CHECK(rc == 0);
    CHECK(count_lines_with(err, needle) == 1);
    CHECK(err.find("Dockerfile.gpu") != std::string::npos);
    CHECK(err.find("--gpus-per-node " + args[4] + " with --image " + args.back()) !=
          std::string::npos);
  }
  CHECK(fs::exists(t.path / "o" / "job-slurm.sh"));

  // No warning: a GPU image, a .sif named *gpu*, CUDA in the tag, no GPUs asked for, no image,
  // an image of another name (not judged).
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"launch", "slurm", spec, "--gpus-per-node", "4", "--image",
                                 "ghcr.io/lab/neurosweep-gpu:0.1"},
        std::vector<std::string>{"launch", "slurm", spec, "--gpus-per-node", "4", "--image",
                                 "/images/neurosweep-gpu.sif"},
        std::vector<std::string>{"launch", "lsf", spec, "--gpus-per-node", "1", "--image",
                                 "lab/neurosweep:0.1-cuda12.6"},
        std::vector<std::string>{"launch", "slurm", spec, "--ranks-per-node", "2", "--image",
                                 "ghcr.io/lab/neurosweep:0.1"},
        std::vector<std::string>{"launch", "slurm", spec, "--gpus-per-node", "4"},
        std::vector<std::string>{"launch", "slurm", spec, "--gpus-per-node", "4", "--image",
                                 "nvcr.io/nvidia/pytorch:24.12-py3"}}) {
    INFO(args[1] << " " << args.back());
    const std::string err = capture_stderr([&] { rc = run_cli(args); });
    CHECK(rc == 0);
    CHECK(count_lines_with(err, needle) == 0);
  }

  // Bad input is still exit 2, with the error and no warning before it.
  const std::string err = capture_stderr([&] {
    rc = run_cli({"launch", "slurm", spec, "--gpus-per-node", "4", "--image", "neurosweep:0.1",
                  "--time", "forever"});
  });
  CHECK(rc == 2);
  CHECK(count_lines_with(err, needle) == 0);
}

TEST_CASE("is_cpu_image: neurosweep images without a GPU marker in name or tag", "[launch][cli]") {
  using ns::launch::is_cpu_image;
  CHECK(is_cpu_image("neurosweep"));
  CHECK(is_cpu_image("neurosweep:latest"));
  CHECK(is_cpu_image("ghcr.io/lab/neurosweep:0.1"));
  CHECK(is_cpu_image("registry.gpu-cluster.org:5000/lab/neurosweep:0.1"));  // host not judged
  CHECK(is_cpu_image("lab/neurosweep@sha256:0123abcd"));
  CHECK(is_cpu_image("docker://ghcr.io/lab/NeuroSweep:0.1"));
  CHECK(is_cpu_image("/images/neurosweep.sif"));
  CHECK(is_cpu_image("neurosweep-cpu.sif"));
  CHECK_FALSE(is_cpu_image("neurosweep-gpu"));
  CHECK_FALSE(is_cpu_image("ghcr.io/lab/neurosweep-gpu:0.1"));
  CHECK_FALSE(is_cpu_image("ghcr.io/lab/neurosweep:0.1-gpu"));
  CHECK_FALSE(is_cpu_image("lab/neurosweep:cu126"));
  CHECK_FALSE(is_cpu_image("lab/neurosweep_CUDA:0.1"));
  CHECK_FALSE(is_cpu_image("/images/neurosweep-gpu.sif"));
  CHECK_FALSE(is_cpu_image("/images/gpu/neurosweep-cuda12.sif"));
  CHECK_FALSE(is_cpu_image("nvcr.io/nvidia/pytorch:24.12-py3"));  // another name: not judged
  CHECK_FALSE(is_cpu_image("lab/sweeper:0.1"));
}

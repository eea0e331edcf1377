// `neurosweep launch ...` as the command line sees it: spec fields, defaults, files written.
#include "catch.hpp"
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "launch/launch.hpp"

namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ns_launch_cli_XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() { fs::remove_all(path); }
};

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
  CHECK_FALSE(fs::exists(t.path / "o"));  // validation happens before anything is created

  write(t.path / "file", "x");
  CHECK(run_cli({"launch", "slurm", (t.path / "ok.json").string(), "--out",
                 (t.path / "file").string()}) == 2);

  // Repeatable options take one value each, so the spec after them stays the spec.
  CHECK(run_cli({"launch", "local", "--setup", "module load x", "--mount", "/data",
                 (t.path / "ok.json").string(), "--ranks-per-node", "1"}) == 0);
  CHECK(slurp(t.path / "o" / "job-local.sh").find("\nmodule load x\n") != std::string::npos);

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

// The container recipes (Dockerfile, neurosweep.def) install with the README's setup command and
// copy every source folder the build needs; the GPU recipes (Dockerfile.gpu, neurosweep-gpu.def)
// start from a CUDA PyTorch image, install the build dependencies of setup.sh's list with apt,
// check the torch C++ ABI, and build with CMake pointed at the bundled LibTorch. Docker and
// Apptainer cannot run here, so these read the recipes; the images themselves are built where an
// engine is available.
#include "catch.hpp"

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <set>
#include <string>
#include <vector>

namespace {

std::string source(const std::string& rel) {
  const char* dir = std::getenv("NS_SOURCE_DIR");
  REQUIRE(dir != nullptr);
  std::ifstream in(std::string(dir) + "/" + rel);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains_line(const std::string& text, const std::regex& re) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, re)) return true;
  }
  return false;
}

const std::string kSetup = "bash scripts/setup.sh";

// The folders the build needs: scripts/, the top CMakeLists.txt and every add_subdirectory().
std::vector<std::string> source_folders() {
  const std::string top = source("CMakeLists.txt");
  REQUIRE_FALSE(top.empty());
  std::vector<std::string> needed{"scripts", "CMakeLists.txt"};
  const std::regex sub(R"(add_subdirectory\((\w+)\))");
  for (auto it = std::sregex_iterator(top.begin(), top.end(), sub); it != std::sregex_iterator(); ++it) {
    needed.push_back((*it)[1]);
  }
  CHECK(needed.size() > 4);
  return needed;
}

// The words of PKGS=(...) in scripts/setup.sh.
std::set<std::string> setup_packages() {
  const std::string setup = source("scripts/setup.sh");
  std::smatch m;
  REQUIRE(std::regex_search(setup, m, std::regex(R"(PKGS=\(([^)]*)\))")));
  std::set<std::string> pkgs;
  std::istringstream in(m[1].str());
  for (std::string w; in >> w;) pkgs.insert(w);
  return pkgs;
}

// The packages of the `apt-get install` command in a recipe (continuation lines joined).
std::set<std::string> apt_install_packages(const std::string& recipe) {
  std::string joined = std::regex_replace(recipe, std::regex(R"(\\\n)"), " ");
  std::smatch m;
  std::set<std::string> pkgs;
  if (!std::regex_search(joined, m, std::regex(R"(apt-get install ([^\n&]*))"))) return pkgs;
  std::istringstream in(m[1].str());
  for (std::string w; in >> w;) {
    if (w[0] != '-') pkgs.insert(w);
  }
  return pkgs;
}

// setup.sh packages a GPU image does without: its LibTorch and BLAS come with the base's
// PyTorch (for Python too: python3-torch exports the torchscript tests' modules); the rest
// serve tests and the report (data set, pandas, browser, a private Slurm, and the network
// namespaces of the multi-node test: ip, nsenter, unshare).
const std::set<std::string> kNotInGpuImage{
    "libtorch-dev", "libopenblas0-openmp", "dataset-fashion-mnist", "python3-pandas", "python3-torch", "chromium",
    "slurmctld",    "slurmd",              "slurm-client",          "munge",          "iproute2",      "util-linux"};

// What both GPU recipes must do, whatever their syntax.
void check_gpu_build(const std::string& recipe, const std::string& what) {
  INFO(what);
  // A base that carries a CUDA PyTorch (PyTorch's devel image or NVIDIA's NGC image).
  CHECK(std::regex_search(recipe, std::regex(R"((pytorch/pytorch:[0-9.]+-cuda[0-9.]+-cudnn[0-9]+-devel|nvcr\.io/nvidia/pytorch:))")));
  // Every build dependency of setup.sh's list, from the base's archive.
  const std::set<std::string> apt = apt_install_packages(recipe);
  REQUIRE_FALSE(apt.empty());
  for (const auto& p : setup_packages()) {
    if (kNotInGpuImage.count(p)) continue;
    INFO("the apt-get install line lacks " << p << " (in scripts/setup.sh's PKGS)");
    CHECK(apt.count(p) == 1);
  }
  // The C++ ABI of the base's torch is checked before building.
  CHECK(recipe.find("torch.compiled_with_cxx11_abi()") != std::string::npos);
  // CMake pointed at the LibTorch inside the Python package; the app built and put on PATH.
  CHECK(recipe.find("python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'") !=
        std::string::npos);
  CHECK(contains_line(recipe, std::regex(R"re(cmake -S \. -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="\$TORCH_PREFIX")re")));
  CHECK(contains_line(recipe, std::regex(R"re(cmake --build build -j "\$\(nproc\)" --target neurosweep)re")));
  CHECK(contains_line(recipe, std::regex(R"(install -m 0755 build/app/neurosweep /usr/local/bin/neurosweep)")));
  // Not setup.sh: it would install Debian's CPU-only LibTorch over the base's CUDA one.
  CHECK_FALSE(contains_line(recipe, std::regex(R"(^[^#]*bash scripts/setup\.sh)")));
}

}  // namespace

TEST_CASE("Dockerfile: Debian 12, README setup command, non-root user, binary on PATH",
          "[launch][containers]") {
  const std::string d = source("Dockerfile");
  REQUIRE_FALSE(d.empty());
  CHECK(contains_line(d, std::regex(R"(^FROM debian:12(\s|$))")));
  CHECK(contains_line(d, std::regex(R"(^RUN bash scripts/setup\.sh( |$))")));
  CHECK(contains_line(d, std::regex(R"(install -m 0755 build/app/neurosweep /usr/local/bin/neurosweep)")));
  std::smatch m;
  std::string last_user;
  std::istringstream in(d);
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, m, std::regex(R"(^USER\s+(\S+).*)"))) last_user = m[1];
  }
  CHECK_FALSE(last_user.empty());
  CHECK(last_user != "root");
  CHECK(last_user != "0");
  // Build trees of the host stay out of the image.
  CHECK(contains_line(source(".dockerignore"), std::regex(R"(^build\*/$)")));
}

TEST_CASE("neurosweep.def: Debian 12, README setup command, every source folder",
          "[launch][containers]") {
  const std::string def = source("neurosweep.def");
  REQUIRE_FALSE(def.empty());
  CHECK(contains_line(def, std::regex(R"(^Bootstrap:\s*docker$)")));
  CHECK(contains_line(def, std::regex(R"(^From:\s*debian:12$)")));
  CHECK(contains_line(def, std::regex(R"(^\s+bash scripts/setup\.sh$)")));
  CHECK(contains_line(def, std::regex(R"(install -m 0755 build/app/neurosweep /usr/local/bin/neurosweep)")));

  // Each folder the top CMakeLists.txt adds, and scripts/, is copied in %files.
  for (const auto& dir : source_folders()) {
    INFO("neurosweep.def %files lacks " << dir);
    CHECK(contains_line(def, std::regex("^\\s+" + dir + " /opt/neurosweep/src/$")));
  }
}

TEST_CASE("the recipes install with the README's setup command", "[launch][containers]") {
  const std::string readme = source("README.md");
  if (readme.empty()) {
    WARN("README.md not written yet: cannot compare its setup command");
    return;
  }
  INFO("README.md should show `" << kSetup << "` as the setup command");
  CHECK(readme.find(kSetup) != std::string::npos);
}

TEST_CASE("Dockerfile.gpu: a CUDA PyTorch base, setup.sh's build packages, CMake with the torch "
          "prefix, non-root user", "[launch][containers]") {
  const std::string d = source("Dockerfile.gpu");
  REQUIRE_FALSE(d.empty());
  check_gpu_build(d, "Dockerfile.gpu");
  // The base is an ARG so another CUDA PyTorch image can be used; FROM takes it.
  std::smatch m;
  REQUIRE(std::regex_search(d, m, std::regex(R"(\nARG BASE=(\S+))")));
  CHECK(contains_line(d, std::regex(R"(^FROM \$\{BASE\}$)")));
  CHECK(m[1].str().find("cuda") != std::string::npos);
  // The same base as the Apptainer recipe.
  const std::string def = source("neurosweep-gpu.def");
  CHECK(contains_line(def, std::regex("^From:\\s*" + std::regex_replace(m[1].str(), std::regex(R"([.+])"), "\\$&") + "$")));
  std::string last_user;
  std::istringstream in(d);
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, m, std::regex(R"(^USER\s+(\S+).*)"))) last_user = m[1];
  }
  CHECK_FALSE(last_user.empty());
  CHECK(last_user != "root");
  CHECK(last_user != "0");
  CHECK(contains_line(d, std::regex(R"(^ENV OMPI_MCA_btl_vader_single_copy_mechanism=none$)")));
  // What the recipe says about itself: nothing of it has run yet.
  CHECK(d.find("Not built or run yet") != std::string::npos);
}

TEST_CASE("neurosweep-gpu.def: a CUDA PyTorch base, every source folder, the same build as "
          "Dockerfile.gpu", "[launch][containers]") {
  const std::string def = source("neurosweep-gpu.def");
  REQUIRE_FALSE(def.empty());
  CHECK(contains_line(def, std::regex(R"(^Bootstrap:\s*docker$)")));
  CHECK(contains_line(def, std::regex(R"(^From:\s*\S+$)")));
  check_gpu_build(def, "neurosweep-gpu.def");
  for (const auto& dir : source_folders()) {
    INFO("neurosweep-gpu.def %files lacks " << dir);
    CHECK(contains_line(def, std::regex("^\\s+" + dir + " /opt/neurosweep/src/$")));
  }
  // The two GPU recipes install the same packages.
  CHECK(apt_install_packages(def) == apt_install_packages(source("Dockerfile.gpu")));
  CHECK(def.find("Not built or run yet") != std::string::npos);
}

TEST_CASE("the .deb files of the GPU check stay out of images and git", "[launch][containers]") {
  CHECK(contains_line(source(".dockerignore"), std::regex(R"(^\.gpu-debs/$)")));
  CHECK(contains_line(source(".gitignore"), std::regex(R"(^/\.gpu-debs/$)")));
}

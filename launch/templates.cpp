#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "launch/launch.hpp"

namespace ns::launch {
namespace embedded {
// launch/templates/*.sh.in, compiled in by launch/embed_templates.cmake.
extern const char* const k_slurm;
extern const char* const k_lsf;
extern const char* const k_local;
}  // namespace embedded

namespace {
std::string read_text(const std::string& path, const std::string& why) {
  std::ifstream in(path, std::ios::binary);
  NS_CHECK(in.good(), "cannot read the job script template '{}' ({}); check the path", path, why);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

std::string load_template(Scheduler s, const std::string& template_file) {
  if (!template_file.empty()) return read_text(template_file, "named by --template");
  const std::string file = std::string(scheduler_name(s)) + ".sh.in";
  if (const char* dir = std::getenv("NS_LAUNCH_TEMPLATES"); dir && *dir) {
    return read_text(std::string(dir) + "/" + file,
                     "NS_LAUNCH_TEMPLATES is set; unset it to use the built-in templates");
  }
  switch (s) {
    case Scheduler::kSlurm: return embedded::k_slurm;
    case Scheduler::kLsf: return embedded::k_lsf;
    case Scheduler::kLocal: return embedded::k_local;
  }
  return {};
}

}  // namespace ns::launch

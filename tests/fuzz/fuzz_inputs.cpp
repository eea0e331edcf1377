// libFuzzer harness for the parsers that read user files and trial output: the sweep spec (JSON
// -> validation -> enumeration), results.csv (the resume reader), IDX dataset files, the neural
// HDF5 dataset reader (with and without CCnorm asked for) and the command family's report lines
// (what a trial prints). The first input byte picks the target (byte % 5). Any exception other
// than ns::Error (or nlohmann's parse errors, which the program turns into ns::Error) is a
// finding, as is any sanitizer report; for report lines, which must never throw, any exception.
// See tests/fuzz/README.md.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "engine/csv.hpp"
#include "core/error.hpp"
#include "engine/search_registry.hpp"
#include "models/classifier/idx.hpp"
#include "models/command/process.hpp"
#include "models/command/report.hpp"
#include "models/neural/dataset.hpp"
#include "models/quadratic.hpp"
#include "sweeps/spec.hpp"

namespace {

// Executions per target, printed at exit (tests/fuzz/README.md reports them) and, when
// NS_FUZZ_COUNTS names a file, appended to it as one line "spec csv idx hdf5 report": in fork mode
// every job adds its line, and run.sh sums them (a job that crashed adds none, so the sum is a
// floor).
constexpr int kTargets = 5;
std::size_t g_runs[kTargets] = {0, 0, 0, 0, 0};
void print_runs() {
  std::fprintf(stderr, "runs per target: spec %zu, csv %zu, idx %zu, hdf5 %zu, report %zu\n",
               g_runs[0], g_runs[1], g_runs[2], g_runs[3], g_runs[4]);
  if (const char* path = std::getenv("NS_FUZZ_COUNTS")) {
    if (FILE* f = std::fopen(path, "a")) {
      std::fprintf(f, "%zu %zu %zu %zu %zu\n", g_runs[0], g_runs[1], g_runs[2], g_runs[3],
                   g_runs[4]);
      std::fclose(f);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool registered = (std::atexit(print_runs), true);
  (void)registered;
  if (size < 1) return 0;
  ++g_runs[data[0] % kTargets];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  static const auto family = ns::models::quadratic_family();
  try {
    switch (data[0] % kTargets) {
      case 0: {
        auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) return 0;
        auto spec = ns::engine::parse_spec(j, "fuzz.json", family->schema());
        std::size_t n = 1;
        for (auto& g : spec.grid) n *= g.second.size();
        if (n * spec.repeats * std::max(1, spec.random_count) <= 100000) ns::sweeps::enumerate(spec);
        break;
      }
      case 1:
        ns::engine::parse_csv(text, "fuzz.csv");
        break;
      case 2: {
        static const std::string path = "/tmp/ns_fuzz_" + std::to_string(::getpid()) + ".idx";
        { std::ofstream(path, std::ios::binary) << text; }
        ns::models::classifier::read_idx(path, text.size() % 2 ? 3 : 1, 1000);
        break;
      }
      case 3: {
        // HDF5 opens files by name: each input is written to a file of this process first.
        static const std::string path = "/tmp/ns_fuzz_" + std::to_string(::getpid()) + ".h5";
        { std::ofstream(path, std::ios::binary) << text; }
        ns::models::neural::read_h5(path, 0, (data[0] / kTargets) % 2 == 0);
        break;
      }
      case 4: {
        // A trial's stdout: split into lines as the family reads a pipe, each line classified.
        // parse_report_line never throws, so any exception here is a finding.
        static const std::vector<std::string> metrics = {"score", "loss"};
        try {
          std::string buf = text;
          ns::models::command::split_lines(buf, true, [](const std::string& line) {
            (void)ns::models::command::parse_report_line(line, metrics);
          });
        } catch (...) {
          std::abort();
        }
        break;
      }
    }
  } catch (const ns::Error&) {
    // a clear error is the expected outcome for bad input
  }
  return 0;
}

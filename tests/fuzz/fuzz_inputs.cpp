// libFuzzer harness for the parsers that read user files: the sweep spec (JSON -> validation ->
// enumeration), results.csv (the resume reader) and IDX dataset files. The first input byte picks
// the target. Any exception other than ns::Error (or nlohmann's parse errors, which the program
// turns into ns::Error) is a finding, as is any sanitizer report. See tests/fuzz/README.md.
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "engine/csv.hpp"
#include "core/error.hpp"
#include "models/classifier/idx.hpp"
#include "models/quadratic.hpp"
#include "sweeps/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  static const auto family = ns::models::quadratic_family();
  try {
    switch (data[0] % 3) {
      case 0: {
        auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) return 0;
        auto spec = ns::sweeps::parse_spec_with(j, "fuzz.json", family.schema);
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
    }
  } catch (const ns::Error&) {
    // a clear error is the expected outcome for bad input
  }
  return 0;
}

#pragma once
// Bounded parsing of JSON text. Every JSON the engine reads from outside (a spec, a trial's
// report lines and final line, sweep.json, the journal) goes through parse_json, so no input
// can exhaust the stack or the memory of a rank: the text's size and nesting depth are capped
// before anything recursive (dump, comparison, a message) touches the value.
//
// Messages: "<where>: <what>", where <what> names the JSON path when the parser knows it
// ("$.grid.lr: the key appears twice").
#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ns::core {

struct JsonLimits {
  std::size_t max_bytes = std::size_t{64} << 20;  ///< text longer than this is refused
  int max_depth = 64;                             ///< nesting of arrays and objects
  bool refuse_duplicate_keys = true;              ///< `{"a": 1, "a": 2}` (else the last wins)
  bool refuse_nul = false;                        ///< a string holding "\u0000"

  /// For specs and the engine's own files: 16 MiB, depth 64, no duplicate keys, no NUL.
  static JsonLimits spec() { return {std::size_t{16} << 20, 64, true, true}; }
  /// For a line a trial prints (report or final line): 1 MiB, depth 32.
  static JsonLimits trial_line() { return {std::size_t{1} << 20, 32, true, false}; }
};

/// Parses `text` within `limits`; throws ns::Error with `exit_code` (2, bad input, by default)
/// "<where>: <why>" when it is not JSON or breaks a limit.
nlohmann::json parse_json(std::string_view text, const std::string& where,
                          const JsonLimits& limits = {}, int exit_code = 2);

/// The same without exceptions: the value, or nullopt with the reason in `why` (no "<where>: ").
std::optional<nlohmann::json> try_parse_json(std::string_view text, const JsonLimits& limits,
                                             std::string* why = nullptr);

/// Reads and parses the file at `path` (a regular file, else refused: a FIFO would block).
nlohmann::json read_json_file(const std::string& path, const JsonLimits& limits = JsonLimits::spec(),
                              int exit_code = 2);

}  // namespace ns::core

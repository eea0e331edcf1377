#pragma once
// The report reads CSV through the engine's one reader (engine/csv.hpp), which tolerates files
// another process is appending to (results.csv, per-trial curve.csv).
#include <filesystem>
#include <string>
#include <string_view>

#include "engine/csv.hpp"

namespace ns::report {

using engine::CsvRecord;
using CsvTable = engine::CsvRecords;

/// engine::parse_csv_records: records as written; callers check field counts.
inline CsvTable parse_csv(std::string_view text) { return engine::parse_csv_records(text); }

/// Reads and parses a file; throws ns::Error when it cannot be read.
CsvTable read_csv(const std::filesystem::path& path);

/// Parses a whole cell as a number ("1e-3", "nan", "inf"); false for empty or other text.
bool parse_number(const std::string& cell, double& out);

}  // namespace ns::report

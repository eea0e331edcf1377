#pragma once
// A forgiving RFC 4180 reader for files another process may be appending to (results.csv,
// per-trial curve.csv): a last record without its newline is a write cut short and is dropped.
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ns::report {

/// One complete record and the 1-based line of the file where it starts.
struct CsvRecord {
  std::vector<std::string> fields;
  std::size_t line = 0;
};

/// A parsed CSV text: the first record is the header, the rest are records.
struct CsvTable {
  std::vector<std::string> header;
  std::vector<CsvRecord> records;  ///< complete records after the header (blank lines skipped)
  bool dropped_partial = false;    ///< a last record without newline (or with an open quote)
};

/// Parses RFC 4180 text: fields separated by commas, records by LF or CRLF; a field in double
/// quotes may hold commas, CR/LF and doubled quotes. A UTF-8 BOM is skipped. A last record not
/// ended by a newline is dropped and flagged (it may be a write cut short). Records are returned
/// as they are; callers check field counts.
CsvTable parse_csv(std::string_view text);

/// Reads and parses a file; throws ns::Error when it cannot be read.
CsvTable read_csv(const std::filesystem::path& path);

/// Parses a whole cell as a number ("1e-3", "nan", "inf"); false for empty or other text.
bool parse_number(const std::string& cell, double& out);

}  // namespace ns::report

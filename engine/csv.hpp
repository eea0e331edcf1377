#pragma once
// RFC 4180 CSV: quoting for the writer, and a reader that tells a complete last record from a
// partial one (a process killed mid-write leaves a last line with no newline).
#include <string>
#include <vector>

namespace ns::engine {

/// Quotes a field when it holds a comma, a quote, CR or LF (quotes doubled), else returns it.
std::string csv_quote(const std::string& field);

/// Joins fields into one record terminated by "\n".
std::string csv_record(const std::vector<std::string>& fields);

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  ///< only complete records
  bool dropped_partial = false;                ///< a partial last record was found and dropped
  size_t complete_bytes = 0;                   ///< bytes of the text up to the last complete record
};

/// Parses CSV text. A last record without its terminating newline, or with an open quote, is
/// dropped (never parsed as data). Records whose field count differs from the header's are an
/// error naming `source` and the line.
CsvTable parse_csv(const std::string& text, const std::string& source);

/// Reads and parses a CSV file (empty table if the file does not exist).
CsvTable read_csv_file(const std::string& path);

}  // namespace ns::engine

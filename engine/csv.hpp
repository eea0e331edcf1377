#pragma once
// RFC 4180 CSV: quoting for the writer, and a reader that tells a complete last record from a
// partial one (a process killed mid-write leaves a last line with no newline).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ns::engine {

/// Quotes a field when it holds a comma, a quote, CR or LF (quotes doubled), else returns it.
std::string csv_quote(const std::string& field);

/// Joins fields into one record terminated by "\n".
std::string csv_record(const std::vector<std::string>& fields);

/// One complete record and the 1-based line of the text where it starts.
struct CsvRecord {
  std::vector<std::string> fields;
  std::size_t line = 0;
};

/// CSV text as written: the header and every complete record, whatever its field count.
struct CsvRecords {
  std::vector<std::string> header;
  std::vector<CsvRecord> records;  ///< complete records after the header (blank lines skipped)
  bool dropped_partial = false;    ///< a last record without newline (or with an open quote)
  std::size_t complete_bytes = 0;  ///< bytes of the text up to the last complete record
};

/// The one CSV reader of the project (results.csv, curve.csv, timings), for files another
/// process may be appending to. RFC 4180: fields separated by commas, records by LF or CRLF; a
/// field in double quotes may hold commas, CR/LF and doubled quotes. A UTF-8 BOM is skipped and
/// blank lines too (as pandas does). A last record not ended by a newline is dropped and
/// flagged, never parsed as data (a write cut short). Text after a closing quote is kept as
/// written rather than failing on a file a human edited.
CsvRecords parse_csv_records(std::string_view text);

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  ///< only complete records
  bool dropped_partial = false;                ///< a partial last record was found and dropped
  size_t complete_bytes = 0;                   ///< bytes of the text up to the last complete record
};

/// parse_csv_records, then records whose field count differs from the header's are an error
/// naming `source` and the line.
CsvTable parse_csv(const std::string& text, const std::string& source);

/// Reads and parses a CSV file (empty table if the file does not exist).
CsvTable read_csv_file(const std::string& path);

}  // namespace ns::engine

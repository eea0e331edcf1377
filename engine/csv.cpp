#include "engine/csv.hpp"

#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace ns::engine {

std::string csv_quote(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string csv_record(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) line += ',';
    line += csv_quote(fields[i]);
  }
  line += '\n';
  return line;
}

CsvRecords parse_csv_records(std::string_view text) {
  CsvRecords table;
  std::size_t i = 0;
  const std::size_t n = text.size();
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  std::size_t line = 1;
  bool have_header = false;
  table.complete_bytes = i;
  while (i < n) {
    if (text[i] == '\n' || (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {  // blank
      i += text[i] == '\n' ? 1 : 2;
      ++line;
      table.complete_bytes = i;
      continue;
    }
    CsvRecord rec;
    rec.line = line;
    std::string field;
    bool complete = false;  // the record ended with a newline
    bool open_quote = false;
    while (i < n) {
      const char c = text[i];
      if (c == '"' && field.empty()) {  // a quoted field runs to the quote that is not doubled
        ++i;
        open_quote = true;
        while (i < n) {
          if (text[i] == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            open_quote = false;
            break;
          }
          if (text[i] == '\n') ++line;
          field += text[i++];
        }
        if (open_quote) break;
        continue;
      }
      if (c == ',') {
        rec.fields.push_back(std::move(field));
        field.clear();
        ++i;
        continue;
      }
      if (c == '\n' || (c == '\r' && i + 1 < n && text[i + 1] == '\n')) {
        i += c == '\n' ? 1 : 2;
        ++line;
        complete = true;
        break;
      }
      field += c;
      ++i;
    }
    if (!complete) {  // end of text inside the record: the writer was stopped mid-line
      table.dropped_partial = true;
      break;
    }
    rec.fields.push_back(std::move(field));
    table.complete_bytes = i;
    if (!have_header) {
      table.header = std::move(rec.fields);
      have_header = true;
    } else {
      table.records.push_back(std::move(rec));
    }
  }
  return table;
}

CsvTable parse_csv(const std::string& text, const std::string& source) {
  CsvRecords r = parse_csv_records(text);
  CsvTable table;
  table.header = std::move(r.header);
  table.dropped_partial = r.dropped_partial;
  table.complete_bytes = r.complete_bytes;
  for (auto& rec : r.records) {
    if (rec.fields.size() != table.header.size()) {
      throw Error(fmt::format("{}: line {}: expected {} fields as in the header, found {}",
                              source, rec.line, table.header.size(), rec.fields.size()));
    }
    table.rows.push_back(std::move(rec.fields));
  }
  return table;
}

CsvTable read_csv_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_csv(ss.str(), path);
}

}  // namespace ns::engine

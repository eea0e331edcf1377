#include "catch.hpp"

#include "engine/csv.hpp"
#include "core/error.hpp"

using namespace ns::engine;

TEST_CASE("RFC 4180 quoting", "[csv]") {
  CHECK(csv_quote("plain") == "plain");
  CHECK(csv_quote("a,b") == "\"a,b\"");
  CHECK(csv_quote("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv_quote("two\nlines") == "\"two\nlines\"");
  CHECK(csv_record({"a", "b,c", ""}) == "a,\"b,c\",\n");
}

TEST_CASE("quoted fields round-trip through the reader", "[csv]") {
  std::vector<std::string> fields = {"id", "x,y", "q\"uote", "multi\nline", ""};
  std::string text = csv_record({"a", "b", "c", "d", "e"}) + csv_record(fields);
  auto t = parse_csv(text, "r.csv");
  REQUIRE(t.rows.size() == 1);
  CHECK(t.rows[0] == fields);
  CHECK_FALSE(t.dropped_partial);
  CHECK(t.complete_bytes == text.size());
}

TEST_CASE("a partial last line is dropped, never parsed", "[csv]") {
  std::string good = "a,b\n1,2\n";
  auto t = parse_csv(good + "3,", "r.csv");
  CHECK(t.rows.size() == 1);
  CHECK(t.dropped_partial);
  CHECK(t.complete_bytes == good.size());
  // A record cut inside a quoted field (its newline belongs to the field) is partial too.
  auto q = parse_csv(good + "3,\"x\n", "r.csv");
  CHECK(q.rows.size() == 1);
  CHECK(q.dropped_partial);
  // A complete line with the wrong field count is corruption, not a partial write.
  CHECK_THROWS_WITH(parse_csv(good + "1,2,3\n", "r.csv"),
                    "r.csv: line 3: expected 2 fields as in the header, found 3");
}

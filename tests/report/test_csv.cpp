// report/csv: RFC 4180 reading of files that may still be written to.
#include "catch.hpp"
#include <cmath>

#include "core/error.hpp"
#include "report/csv.hpp"
#include "test_util.hpp"

using ns::report::parse_csv;
using ns::report::parse_number;

TEST_CASE("csv: plain records with a trailing newline are all kept") {
  auto t = parse_csv("a,b,c\n1,2,3\n4,5,6\n");
  REQUIRE(t.header == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(t.records.size() == 2);
  CHECK(t.records[1].fields == std::vector<std::string>{"4", "5", "6"});
  CHECK(t.records[1].line == 3);
  CHECK_FALSE(t.dropped_partial);
}

TEST_CASE("csv: quoted fields hold commas, doubled quotes and newlines") {
  auto t = parse_csv("id,error\nx,\"a, b \"\"quoted\"\"\nsecond line\"\ny,plain\n");
  REQUIRE(t.records.size() == 2);
  CHECK(t.records[0].fields[1] == "a, b \"quoted\"\nsecond line");
  CHECK(t.records[0].line == 2);
  // The newline inside the quotes counts: the next record starts on line 4.
  CHECK(t.records[1].line == 4);
  CHECK(t.records[1].fields == std::vector<std::string>{"y", "plain"});
}

TEST_CASE("csv: empty fields, quoted empty fields and a trailing empty field") {
  auto t = parse_csv("a,b,c\n,\"\",\n");
  REQUIRE(t.records.size() == 1);
  CHECK(t.records[0].fields == std::vector<std::string>{"", "", ""});
}

TEST_CASE("csv: a last line without newline is a write cut short and is dropped") {
  auto t = parse_csv("a,b\n1,2\n3,");
  CHECK(t.records.size() == 1);
  CHECK(t.dropped_partial);
  // Even when the partial line happens to have all its fields.
  auto u = parse_csv("a,b\n1,2\n3,4");
  CHECK(u.records.size() == 1);
  CHECK(u.dropped_partial);
}

TEST_CASE("csv: an open quote at the end of the text drops the record") {
  auto t = parse_csv("a,b\n1,2\n3,\"unfinished\nmessage");
  CHECK(t.records.size() == 1);
  CHECK(t.dropped_partial);
  // A complete quoted field that ends exactly at a newline is not partial.
  auto u = parse_csv("a,b\n3,\"finished\nmessage\"\n");
  REQUIRE(u.records.size() == 1);
  CHECK(u.records[0].fields[1] == "finished\nmessage");
  CHECK_FALSE(u.dropped_partial);
}

TEST_CASE("csv: CRLF records, a BOM and blank lines") {
  auto t = parse_csv("\xEF\xBB\xBFx,y\r\n1,\"a\r\nb\"\r\n\r\n2,c\r\n");
  REQUIRE(t.header == std::vector<std::string>{"x", "y"});
  REQUIRE(t.records.size() == 2);
  CHECK(t.records[0].fields[1] == "a\r\nb");  // inside quotes the bytes are kept
  CHECK(t.records[1].fields == std::vector<std::string>{"2", "c"});
  CHECK(t.records[1].line == 5);
}

TEST_CASE("csv: a torn header leaves no header and flags the drop") {
  auto t = parse_csv("trial_id,sta");
  CHECK(t.header.empty());
  CHECK(t.dropped_partial);
  auto e = parse_csv("");
  CHECK(e.header.empty());
  CHECK_FALSE(e.dropped_partial);
}

TEST_CASE("csv: records with a different field count are returned as they are") {
  auto t = parse_csv("a,b\n1,2,3\n4\n");
  REQUIRE(t.records.size() == 2);
  CHECK(t.records[0].fields.size() == 3);
  CHECK(t.records[1].fields.size() == 1);
}

TEST_CASE("csv: text after a closing quote is kept, not an error") {
  auto t = parse_csv("a,b\n\"x\"y,2\n");
  REQUIRE(t.records.size() == 1);
  CHECK(t.records[0].fields[0] == "xy");
}

TEST_CASE("csv: read_csv names the file it cannot open") {
  REQUIRE_THROWS_WITH(ns::report::read_csv("/nonexistent/dir/results.csv"),
                      Catch::Contains("/nonexistent/dir/results.csv: cannot open"));
}

TEST_CASE("csv: parse_number reads whole cells only") {
  double v = 0;
  CHECK(parse_number("1e-3", v));
  CHECK(v == Approx(0.001));
  CHECK(parse_number("-2.5", v));
  CHECK(v == -2.5);
  CHECK(parse_number("nan", v));
  CHECK(std::isnan(v));
  CHECK(parse_number("inf", v));
  CHECK(std::isinf(v));
  CHECK_FALSE(parse_number("", v));
  CHECK_FALSE(parse_number("0.1x", v));
  CHECK_FALSE(parse_number("relu", v));
  CHECK_FALSE(parse_number("0x10", v));
}

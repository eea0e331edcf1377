// BestTracker::offer_record (a resume's rows read as cells) picks the same best, with the same
// best.json, as offer_cells on the same rows as column -> cell maps.
#include "catch.hpp"

#include <map>
#include <string>
#include <vector>

#include "engine/results.hpp"

using ns::engine::BestTracker;

namespace {

const std::vector<std::string> kParams = {"lr", "act"};
const std::vector<std::string> kMetrics = {"score", "loss"};
const std::vector<std::string> kHeader = {"trial_id", "status", "lr",     "act",  "score",
                                          "loss",     "seed",   "repeat", "attempt", "wall_s",
                                          "rank",     "host",   "device", "error"};

std::vector<std::string> row(const std::string& id, const std::string& status,
                             const std::string& score, const std::string& lr = "0.1") {
  return {id, status, lr, "relu", score, "1", "7", "0", "1", "0.5", "0", "h", "cpu", ""};
}

std::map<std::string, std::string> named(const std::vector<std::string>& cells) {
  std::map<std::string, std::string> m;
  for (std::size_t i = 0; i < kHeader.size(); ++i) m[kHeader[i]] = cells[i];
  return m;
}

}  // namespace

TEST_CASE("offer_record takes the rows offer_cells takes", "[results]") {
  const std::vector<std::vector<std::string>> rows = {
      row("a", "failed", "9"),   row("b", "ok", ""),       row("c", "ok", "nan"),
      row("d", "ok", "1.5"),     row("e", "ok", "1.5"),    row("f", "stopped", "8"),
      row("g", "ok", "inf"),     row("h", "ok", "1e999"),  row("i", "ok", "-2", "\"x\""),
      row("j", "ok", "2.25", "0.3"), row("k", "ok", "2.0"), row("l", "timeout", "99"),
      row("m", "ok", "abc")};
  for (const bool maximize : {true, false}) {
    BestTracker cells("score", maximize), record("score", maximize);
    for (const auto& r : rows) {
      INFO("row " << r[0] << (maximize ? " (max)" : " (min)"));
      CHECK(record.offer_record(kHeader, r, kParams, kMetrics) ==
            cells.offer_cells(named(r), kParams, kMetrics));
      CHECK(record.to_json() == cells.to_json());
    }
    CHECK(record.has_best());
    CHECK(record.to_json().at("trial_id") == (maximize ? "j" : "i"));
  }
  // A metric that is not a column of the table: neither takes any row.
  BestTracker other("val", true);
  CHECK_FALSE(other.offer_record(kHeader, row("z", "ok", "1"), kParams, kMetrics));
  CHECK_FALSE(other.has_best());
}

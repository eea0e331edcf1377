#include "engine/metric_definitions.hpp"

#include "catch.hpp"

using ns::engine::reconcile_metric_definitions;
using nlohmann::json;

namespace {
const json kNew = {{"ccnorm", "new"}};
const json kLegacy = {{"ccnorm", "old"}};
}  // namespace

TEST_CASE("metric definitions: a fresh sweep and an up-to-date one record only today's",
          "[metric_definitions]") {
  auto r = reconcile_metric_definitions(nullptr, kNew, kLegacy, {});
  REQUIRE(r.fields == json{{"metric_definitions", kNew}});
  REQUIRE(r.warning.empty());
  r = reconcile_metric_definitions({{"metric_definitions", kNew}}, kNew, kLegacy, {"a", "b"});
  REQUIRE(r.fields == json{{"metric_definitions", kNew}});
  REQUIRE(r.warning.empty());
  // Families without definitions: nothing to compare.
  r = reconcile_metric_definitions({{"family", "quadratic"}}, json::object(), json::object(),
                                   {"a"});
  REQUIRE(r.warning.empty());
}

TEST_CASE("metric definitions: rows of an older sweep.json are listed once, across resumes",
          "[metric_definitions]") {
  // sweep.json without the record: its rows used the legacy definitions.
  auto r = reconcile_metric_definitions({{"family", "maskcnn"}}, kNew, kLegacy, {"a", "b"});
  const json listed = json::array(
      {{{"metric_definitions", kLegacy}, {"trial_ids", json::array({"a", "b"})}}});
  REQUIRE(r.fields.at("rows_by_earlier_metric_definitions") == listed);
  REQUIRE_THAT(r.warning, Catch::Contains("2 row(s) of results.csv were scored with an earlier "
                                          "definition (ccnorm is now \"new\"): a, b"));
  // The next resume reads what this one wrote; "c" is a new row, scored the new way.
  json written = r.fields;
  r = reconcile_metric_definitions(written, kNew, kLegacy, {"a", "b", "c"});
  REQUIRE(r.fields.at("rows_by_earlier_metric_definitions") == listed);
  REQUIRE_THAT(r.warning, Catch::Contains("2 row(s)"));
  // Rows that are gone (results.csv replaced) are no longer listed.
  r = reconcile_metric_definitions(written, kNew, kLegacy, {"b", "c"});
  REQUIRE(r.fields.at("rows_by_earlier_metric_definitions") ==
          json::array({{{"metric_definitions", kLegacy}, {"trial_ids", json::array({"b"})}}}));
  r = reconcile_metric_definitions(written, kNew, kLegacy, {"c"});
  REQUIRE_FALSE(r.fields.contains("rows_by_earlier_metric_definitions"));
  REQUIRE(r.warning.empty());
  // A third definition: the rows of the second join the list under theirs.
  const json kNewer = {{"ccnorm", "newer"}};
  r = reconcile_metric_definitions(written, kNewer, kLegacy, {"a", "b", "c"});
  REQUIRE(r.fields.at("rows_by_earlier_metric_definitions").size() == 2);
  REQUIRE(r.fields.at("rows_by_earlier_metric_definitions")[1] ==
          json{{"metric_definitions", kNew}, {"trial_ids", json::array({"c"})}});
  REQUIRE_THAT(r.warning, Catch::Contains("3 row(s)") && Catch::Contains("a, b, c"));
}

#include "models/command/report.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/json_text.hpp"

namespace ns::models::command {

namespace {

using json = nlohmann::json;

// A value a report gives for a metric: a number, or a string naming a non-finite one.
double metric_value(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s == "nan" || s == "NaN") return std::nan("");
    if (s == "inf" || s == "Infinity") return HUGE_VAL;
    if (s == "-inf" || s == "-Infinity") return -HUGE_VAL;
  }
  if (v.is_null()) return std::nan("");
  throw Error(fmt::format("expected a number, got {}", core::shown(v)));
}

void take(const json& obj, const std::string& what, const std::vector<std::string>& metrics,
          ReportLine& out) {
  if (!obj.is_object())
    throw Error(fmt::format("{}: expected an object of metrics, got {}", what, core::shown(obj)));
  for (auto& [k, v] : obj.items()) {
    if (std::find(metrics.begin(), metrics.end(), k) == metrics.end()) {
      out.unknown.push_back(k);
      continue;
    }
    try {
      out.metrics[k] = metric_value(v);
    } catch (const Error& e) {
      throw Error(fmt::format("{}.{}: {}", what, head_of(k, 60), e.what()));
    }
  }
}

}  // namespace

std::string head_of(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  return fmt::format("{} ... ({} bytes)", text.substr(0, max), text.size());
}

ReportLine parse_report_line(const std::string& line, const std::vector<std::string>& metrics) {
  ReportLine r;
  const auto first = line.find_first_not_of(" \t\r");
  if (first == std::string::npos || line[first] != '{') return r;  // kText
  std::string why;
  const std::optional<json> j = core::try_parse_json(line, core::JsonLimits::trial_line(), &why);
  if (!j) {
    r.kind = ReportLine::Kind::kMalformed;
    r.why = "not JSON: " + why;
    return r;
  }
  if (!j->is_object() || (!j->contains("step") && !j->contains("final"))) return r;  // kText
  try {
    if (j->contains("final")) {
      take(j->at("final"), "\"final\"", metrics, r);
      r.kind = ReportLine::Kind::kFinal;
      return r;
    }
    const json& step = j->at("step");
    if (!step.is_number())
      throw Error(fmt::format("\"step\": expected a number, got {}", core::shown(step)));
    r.step = step.get<double>();
    if (!std::isfinite(r.step)) throw Error("\"step\": expected a finite number");
    if (j->contains("metrics")) take(j->at("metrics"), "\"metrics\"", metrics, r);
    r.kind = ReportLine::Kind::kReport;
  } catch (const Error& e) {
    r = ReportLine{};
    r.kind = ReportLine::Kind::kMalformed;
    r.why = e.what();
  }
  return r;
}

}  // namespace ns::models::command

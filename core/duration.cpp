#include "core/duration.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>

#include "core/error.hpp"

namespace ns::core {

std::optional<double> parse_duration(const std::string& s) {
  if (s.empty() || s.size() > 40) return std::nullopt;
  std::smatch m;
  static const std::regex units(R"((?:(\d{1,9})d)?(?:(\d{1,9})h)?(?:(\d{1,9})m)?(?:(\d{1,9}(?:\.\d+)?)s)?)");
  static const std::regex slurm(R"((\d{1,9})(?::(\d{1,9}))?(?::(\d{1,9}))?)");
  static const std::regex slurm_days(R"((\d{1,9})-(\d{1,9})(?::(\d{1,9}))?(?::(\d{1,9}))?)");
  auto num = [&](int i) { return m[i].matched ? std::stod(m[i]) : 0.0; };
  if (std::regex_match(s, m, slurm_days)) {
    return num(1) * 86400 + num(2) * 3600 + num(3) * 60 + num(4);
  }
  if (std::regex_match(s, m, slurm)) {
    if (m[3].matched) return num(1) * 3600 + num(2) * 60 + num(3);  // HH:MM:SS
    if (m[2].matched) return num(1) * 60 + num(2);                   // MM:SS
    return num(1) * 60;                                              // MM
  }
  if (std::regex_match(s, m, units) && m.length(0) > 0) {
    return num(1) * 86400 + num(2) * 3600 + num(3) * 60 + num(4);
  }
  return std::nullopt;
}

double parse_duration_s(const std::string& text, const std::string& what) {
  const auto s = parse_duration(text);
  NS_CHECK(s.has_value(),
           "{} '{}' is not a duration; write e.g. 90s, 45m, 4h, 2d, 1h30m, or Slurm's "
           "MM, MM:SS, HH:MM:SS, D-HH:MM:SS",
           what, text);
  NS_CHECK(*s > 0, "{} '{}' is zero; give a positive duration", what, text);
  return *s;
}

std::string human_duration(double s) {
  if (!std::isfinite(s)) return "?";
  if (s < 60) return fmt::format("{:.1f} s", s);
  const long t = std::lround(s);
  if (t < 3600) return fmt::format("{} m {:02} s", t / 60, t % 60);
  if (t < 86400) return fmt::format("{} h {:02} m", t / 3600, (t % 3600) / 60);
  return fmt::format("{} d {} h", t / 86400, (t % 86400) / 3600);
}

int signal_margin_s(long t) {
  if (t <= 0) return 300;
  if (t < 60) return static_cast<int>(std::max(1L, t / 2));
  return static_cast<int>(std::clamp(t / 10, 30L, 300L));
}

double job_loss_s(long time_limit_s, double deadline_margin_s) {
  if (time_limit_s <= 0) return 0;
  return std::max(deadline_margin_s, static_cast<double>(signal_margin_s(time_limit_s))) + 30;
}

}  // namespace ns::core

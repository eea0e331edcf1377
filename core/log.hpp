#pragma once
// Logging front end on fmt. Informational output comes from rank 0 only: call
// ns::log::configure() once after MPI is up; info() on other ranks is dropped. note() is for a
// trial's event worth seeing from whichever rank runs it (a trial resumed from its checkpoint),
// printed by every rank with its rank.
#include <fmt/format.h>

#include <string>

namespace ns::log {

enum class Level { kDebug, kInfo, kNote, kWarn, kError };

/// Sets this process's rank (info/debug are printed only on rank 0) and the minimum level.
void configure(int rank, Level min_level = Level::kInfo);
/// Writes one line to stderr, prefixed with the level (and the rank for warnings and errors).
void write(Level level, const std::string& msg);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void note(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kNote, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace ns::log

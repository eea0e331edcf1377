#pragma once
// Logging front end on fmt. Informational output comes from rank 0 only: call
// ns::log::set_rank() once after MPI is up; info() on other ranks is dropped.
#include <fmt/format.h>

#include <string>

namespace ns::log {

enum class Level { kDebug, kInfo, kWarn, kError };

/// Sets this process's rank (info/debug are printed only on rank 0) and the minimum level.
void configure(int rank, Level min_level = Level::kInfo);
/// Writes one line to stderr, prefixed with the level (and the rank for warnings and errors).
void write(Level level, const std::string& msg);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
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

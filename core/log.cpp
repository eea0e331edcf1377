#include "core/log.hpp"

#include <cstdio>

namespace ns::log {
namespace {
int g_rank = 0;  // process-wide by nature: one logger per process
Level g_min = Level::kInfo;
}  // namespace

void configure(int rank, Level min_level) {
  g_rank = rank;
  g_min = min_level;
}

void write(Level level, const std::string& msg) {
  if (level < g_min) return;
  if ((level == Level::kInfo || level == Level::kDebug) && g_rank != 0) return;
  const char* tag = level == Level::kError ? "error" : level == Level::kWarn ? "warning" : "";
  if (level == Level::kNote) {
    std::fprintf(stderr, "neurosweep[%d] %s\n", g_rank, msg.c_str());
  } else if (*tag) {
    std::fprintf(stderr, "neurosweep[%d] %s: %s\n", g_rank, tag, msg.c_str());
  } else {
    std::fprintf(stderr, "%s\n", msg.c_str());
  }
  std::fflush(stderr);
}

}  // namespace ns::log

#pragma once
// Structured logs: one JSON object per line on stderr.
//   Log(LogLevel::kInfo, "listening", {{"addr", "127.0.0.1:8080"}});
// Thread-safe; each line is written with a single write(2) so lines from
// different threads never interleave. Secrets must never be passed as fields.
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug" | "info" | "warn" | "error"; false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel* out);
const char* LogLevelName(LogLevel level);

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

void Log(LogLevel level, std::string_view msg,
         const nlohmann::json& fields = nlohmann::json::object());

// The most recent log lines (kLogTailLines of them), kept in memory for the
// admin console's log view, each with a sequence number that only grows.
inline constexpr size_t kLogTailLines = 1000;
struct LogLine {
  uint64_t seq = 0;
  std::string text;  // the JSON line, without its newline
};
// Lines with seq > `after`, oldest first, at most `max`.
std::vector<LogLine> RecentLogLines(uint64_t after, size_t max);
// `wake` is called (on the logging thread, without locks held) after each
// new line; the returned id removes it. Keep `wake` cheap and never log in it.
uint64_t AddLogListener(std::function<void()> wake);
void RemoveLogListener(uint64_t id);

}  // namespace hearth

#pragma once
// Structured logs: one JSON object per line on stderr.
//   Log(LogLevel::kInfo, "listening", {{"addr", "127.0.0.1:8080"}});
// Thread-safe; each line is written with a single write(2) so lines from
// different threads never interleave. Secrets must never be passed as fields.
#include <atomic>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace hearth {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug" | "info" | "warn" | "error"; false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel* out);
const char* LogLevelName(LogLevel level);

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Redirects log output (tests); fd 2 by default.
void SetLogFd(int fd);

void Log(LogLevel level, std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());

}  // namespace hearth

#include "base/log.h"

#include <unistd.h>

#include <deque>
#include <map>
#include <mutex>

#include "base/clock.h"

namespace hearth {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_fd{2};

struct Tail {
  std::mutex mu;
  std::deque<LogLine> lines;
  uint64_t next_seq = 1;
  std::map<uint64_t, std::function<void()>> listeners;
  uint64_t next_listener = 1;
};
Tail& TheTail() {
  static Tail* tail = new Tail();  // never destroyed: threads may log during exit
  return *tail;
}

void Remember(std::string_view text) {
  Tail& t = TheTail();
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard<std::mutex> lock(t.mu);
    t.lines.push_back(LogLine{t.next_seq++, std::string(text)});
    if (t.lines.size() > kLogTailLines) t.lines.pop_front();
    for (const auto& [id, fn] : t.listeners) wake.push_back(fn);
  }
  for (const auto& fn : wake) fn();
}
}  // namespace

std::vector<LogLine> RecentLogLines(uint64_t after, size_t max) {
  Tail& t = TheTail();
  std::lock_guard<std::mutex> lock(t.mu);
  std::vector<LogLine> out;
  size_t skip = 0;
  // The newest `max` after `after`.
  size_t newer = 0;
  for (const auto& l : t.lines)
    if (l.seq > after) ++newer;
  if (newer > max) skip = newer - max;
  for (const auto& l : t.lines) {
    if (l.seq <= after) continue;
    if (skip > 0) {
      --skip;
      continue;
    }
    out.push_back(l);
  }
  return out;
}

uint64_t AddLogListener(std::function<void()> wake) {
  Tail& t = TheTail();
  std::lock_guard<std::mutex> lock(t.mu);
  uint64_t id = t.next_listener++;
  t.listeners[id] = std::move(wake);
  return id;
}

void RemoveLogListener(uint64_t id) {
  Tail& t = TheTail();
  std::lock_guard<std::mutex> lock(t.mu);
  t.listeners.erase(id);
}

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  if (text == "debug")
    *out = LogLevel::kDebug;
  else if (text == "info")
    *out = LogLevel::kInfo;
  else if (text == "warn")
    *out = LogLevel::kWarn;
  else if (text == "error")
    *out = LogLevel::kError;
  else
    return false;
  return true;
}

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void SetLogLevel(LogLevel level) {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}
bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void Log(LogLevel level, std::string_view msg, const nlohmann::json& fields) {
  if (!LogEnabled(level)) return;
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = FormatIso8601(WallNowMicros());
  line["level"] = LogLevelName(level);
  line["msg"] = msg;
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  std::string out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  Remember(out);
  out.push_back('\n');
  // One write per line: lines from different threads stay whole.
  const char* p = out.data();
  size_t left = out.size();
  int fd = g_fd.load();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace hearth

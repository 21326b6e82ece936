#include "base/clock.h"

#include <time.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace hearth {
namespace {
int64_t Read(clockid_t id, int64_t div) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * (1000000000 / div) + ts.tv_nsec / div;
}
const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int MonthIndex(std::string_view m) {
  for (int i = 0; i < 12; ++i)
    if (m == kMonths[i]) return i;
  return -1;
}

bool ParseDigits(std::string_view s, int* out) {
  if (s.empty()) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

bool ParseClock(std::string_view s, tm* t) {  // "08:49:37"
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return false;
  return ParseDigits(s.substr(0, 2), &t->tm_hour) && ParseDigits(s.substr(3, 2), &t->tm_min) &&
         ParseDigits(s.substr(6, 2), &t->tm_sec) && t->tm_hour < 24 && t->tm_min < 60 &&
         t->tm_sec < 61;
}
}  // namespace

int64_t MonoNowMillis() {
  return Read(CLOCK_MONOTONIC_COARSE, 1000000);
}
int64_t MonoNowMicros() {
  return Read(CLOCK_MONOTONIC, 1000);
}
int64_t WallNowMicros() {
  return Read(CLOCK_REALTIME, 1000);
}
int64_t WallNowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return ts.tv_sec;
}

std::string FormatHttpDate(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  tm g;
  gmtime_r(&t, &g);
  char buf[40];
  snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[g.tm_wday], g.tm_mday,
           kMonths[g.tm_mon], g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
  return buf;
}

int64_t ParseHttpDate(std::string_view s) {
  tm t{};
  int year = 0;
  if (s.size() == 29 && s[3] == ',' && s.substr(25) == " GMT") {
    // Sun, 06 Nov 1994 08:49:37 GMT
    if (s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ') return -1;
    if (!ParseDigits(s.substr(5, 2), &t.tm_mday)) return -1;
    t.tm_mon = MonthIndex(s.substr(8, 3));
    if (!ParseDigits(s.substr(12, 4), &year)) return -1;
    if (!ParseClock(s.substr(17, 8), &t)) return -1;
  } else if (s.size() == 24 && s[3] == ' ') {
    // asctime: Sun Nov  6 08:49:37 1994
    t.tm_mon = MonthIndex(s.substr(4, 3));
    std::string_view day = s.substr(8, 2);
    if (day[0] == ' ') day = day.substr(1);
    if (!ParseDigits(day, &t.tm_mday)) return -1;
    if (!ParseClock(s.substr(11, 8), &t)) return -1;
    if (!ParseDigits(s.substr(20, 4), &year)) return -1;
  } else {
    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    size_t comma = s.find(", ");
    if (comma == std::string_view::npos || s.size() != comma + 24 ||
        s.substr(s.size() - 4) != " GMT")
      return -1;
    std::string_view r = s.substr(comma + 2);  // 06-Nov-94 08:49:37 GMT
    if (r[2] != '-' || r[6] != '-' || r[9] != ' ') return -1;
    if (!ParseDigits(r.substr(0, 2), &t.tm_mday)) return -1;
    t.tm_mon = MonthIndex(r.substr(3, 3));
    if (!ParseDigits(r.substr(7, 2), &year)) return -1;
    year += year < 70 ? 2000 : 1900;
    if (!ParseClock(r.substr(10, 8), &t)) return -1;
  }
  if (t.tm_mon < 0 || t.tm_mday < 1 || t.tm_mday > 31 || year < 1970 || year > 9999) return -1;
  t.tm_year = year - 1900;
  return static_cast<int64_t>(timegm(&t));
}

std::string FormatIso8601(int64_t unix_micros) {
  time_t t = static_cast<time_t>(unix_micros / 1000000);
  tm g;
  gmtime_r(&t, &g);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", g.tm_year + 1900, g.tm_mon + 1,
           g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec, static_cast<int>(unix_micros % 1000000));
  return buf;
}

std::optional<int64_t> ParseIso8601(const std::string& text) {
  int y, mo, d, h, mi, sec, n = 0;
  if (sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
      n != 19)
    return {};
  std::string rest = text.substr(19);
  int64_t micros = 0;
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    int digits = 0;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') {
      if (digits < 6) micros = micros * 10 + (rest[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return {};
    for (int k = digits; k < 6; ++k) micros *= 10;
    rest = rest.substr(i);
  }
  if (rest != "Z" && rest != "+00:00") return {};
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return {};
  tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  t.tm_sec = sec;
  return static_cast<int64_t>(timegm(&t)) * 1000000 + micros;
}

}  // namespace hearth

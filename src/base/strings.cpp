#include "base/strings.h"

#include <charconv>
#include <cstdio>

namespace hearth {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseUint(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > static_cast<uint64_t>(INT64_MAX)) return false;
  *out = v;
  return true;
}

bool ParseHex(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 15) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

bool ParseSize(std::string_view s, uint64_t* out) {
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  uint64_t n;
  if (!ParseUint(s.substr(0, i), &n)) return false;
  std::string unit(s.substr(i));
  for (auto& c : unit) c = AsciiLower(c);
  uint64_t mul;
  if (unit.empty() || unit == "b")
    mul = 1;
  else if (unit == "kib" || unit == "k")
    mul = 1ull << 10;
  else if (unit == "mib" || unit == "m")
    mul = 1ull << 20;
  else if (unit == "gib" || unit == "g")
    mul = 1ull << 30;
  else if (unit == "kb")
    mul = 1000;
  else if (unit == "mb")
    mul = 1000 * 1000;
  else if (unit == "gb")
    mul = 1000 * 1000 * 1000;
  else
    return false;
  if (n != 0 && mul > static_cast<uint64_t>(INT64_MAX) / n) return false;
  *out = n * mul;
  return true;
}

bool ParseDurationMillis(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  int64_t total = 0;
  bool bare = true;
  for (char c : s)
    if (c < '0' || c > '9') bare = false;
  if (bare) {
    uint64_t n;
    if (!ParseUint(s, &n) || n > 1000000000ull) return false;
    *out = static_cast<int64_t>(n) * 1000;
    return true;
  }
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    uint64_t n;
    if (!ParseUint(s.substr(0, i), &n) || n > 1000000000ull) return false;
    s.remove_prefix(i);
    int64_t mul;
    if (s.substr(0, 2) == "ms") {
      mul = 1;
      s.remove_prefix(2);
    } else if (!s.empty() && s[0] == 's') {
      mul = 1000;
      s.remove_prefix(1);
    } else if (!s.empty() && s[0] == 'm') {
      mul = 60000;
      s.remove_prefix(1);
    } else if (!s.empty() && s[0] == 'h') {
      mul = 3600000;
      s.remove_prefix(1);
    } else if (!s.empty() && s[0] == 'd') {  // retention periods: "7d"
      mul = 24 * 3600000;
      s.remove_prefix(1);
    } else
      return false;
    total += static_cast<int64_t>(n) * mul;
    if (total > 100ll * 365 * 24 * 3600000) return false;
  }
  *out = total;
  return true;
}

std::string FormatSize(uint64_t b) {
  if (b != 0 && b % (1ull << 30) == 0) return std::to_string(b >> 30) + "GiB";
  if (b != 0 && b % (1ull << 20) == 0) return std::to_string(b >> 20) + "MiB";
  if (b != 0 && b % (1ull << 10) == 0) return std::to_string(b >> 10) + "KiB";
  return std::to_string(b);
}

std::string FormatDurationMillis(int64_t ms) {
  if (ms != 0 && ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

bool HeaderListHasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = TrimOws(list.substr(0, comma));
    if (EqualsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

void AppendUint(std::string* out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

namespace {
bool DecodeComponent(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      uint64_t v;
      if (i + 2 >= in.size() || !ParseHex(in.substr(i + 1, 2), &v)) return false;
      out->push_back(static_cast<char>(v));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}
}  // namespace

bool ParseQueryString(std::string_view query,
                      std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string k, v;
      if (!DecodeComponent(part.substr(0, eq), &k)) return false;
      if (eq != std::string_view::npos && !DecodeComponent(part.substr(eq + 1), &v)) return false;
      out->emplace_back(std::move(k), std::move(v));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return true;
}

std::string PercentEncode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if ((b & 0xE0) == 0xC0)
      len = 2, cp = b & 0x1F;
    else if ((b & 0xF0) == 0xE0)
      len = 3, cp = b & 0x0F;
    else if ((b & 0xF8) == 0xF0)
      len = 4, cp = b & 0x07;
    else
      return false;
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::string DecodePathSegment(std::string_view seg) {
  // Percent-decoding only ('+' in a path is a plus); a malformed escape stays as it is.
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < seg.size(); ++i) {
    if (seg[i] == '%' && i + 2 < seg.size() && hex(seg[i + 1]) >= 0 && hex(seg[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(seg[i + 1]) * 16 + hex(seg[i + 2])));
      i += 2;
    } else {
      out.push_back(seg[i]);
    }
  }
  return out;
}

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    if (!seg.empty()) out.push_back(seg);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace hearth

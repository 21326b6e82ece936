#pragma once
// Small string helpers with no dependencies: ASCII case folding, trimming,
// number / size / duration parsing with overflow checks.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth {

inline char AsciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
std::string_view TrimOws(std::string_view s);  // spaces and tabs at both ends

// Decimal digits only, no sign, no overflow past INT64_MAX. False otherwise.
bool ParseUint(std::string_view s, uint64_t* out);
// Hex digits only, at most 15 of them (so the value fits comfortably).
bool ParseHex(std::string_view s, uint64_t* out);
// "1048576", "64KiB", "16MiB", "1GiB", "10KB", "5MB" (KB/MB/GB are powers of 1000).
bool ParseSize(std::string_view s, uint64_t* out);
// "250ms", "10s", "5m", "1h", "1h30m", "7d"; a bare number means seconds.
bool ParseDurationMillis(std::string_view s, int64_t* out);
std::string FormatSize(uint64_t bytes);        // "16MiB" when exact, else bytes
std::string FormatDurationMillis(int64_t ms);  // "30s", "250ms", "5m"

// Does `list` (a comma-separated header value) contain `token`, case-insensitively?
bool HeaderListHasToken(std::string_view list, std::string_view token);

// Appends decimal digits of v.
void AppendUint(std::string* out, uint64_t v);

// application/x-www-form-urlencoded pairs of a query string ("a=1&b=x+y%21"),
// decoded ('+' is a space, %XX a byte). False if a %-escape is malformed.
bool ParseQueryString(std::string_view query,
                      std::vector<std::pair<std::string, std::string>>* out);

// Whether `s` is well-formed UTF-8 (no overlong forms, no surrogates, at
// most U+10FFFF).
bool IsValidUtf8(std::string_view s);

// `text` percent-encoded for a URL path segment or query value: everything
// but RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~) as %XX.
std::string PercentEncode(std::string_view text);

// A URL path segment, percent-decoded ('+' stays a plus; a malformed escape
// stays as it is).
std::string DecodePathSegment(std::string_view segment);

// The non-empty segments of a path: "/a//b/" -> {"a", "b"} (views into `path`).
std::vector<std::string_view> Segments(std::string_view path);

}  // namespace hearth

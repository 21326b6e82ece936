#pragma once
// Clocks and time formats. Monotonic time for deadlines, wall time for
// headers and logs.
#include <cstdint>
#include <optional>
#include <string>

namespace hearth {

int64_t MonoNowMillis();   // CLOCK_MONOTONIC_COARSE: cheap, ~4 ms resolution
int64_t MonoNowMicros();   // CLOCK_MONOTONIC: precise, for latency
int64_t WallNowMicros();   // CLOCK_REALTIME
int64_t WallNowSeconds();  // CLOCK_REALTIME_COARSE seconds

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 IMF-fixdate). Always 29 chars.
std::string FormatHttpDate(int64_t unix_seconds);
// Parses IMF-fixdate (and the obsolete RFC 850 / asctime forms); -1 if invalid.
int64_t ParseHttpDate(std::string_view text);
// "2026-11-22T21:43:57.123456Z"
std::string FormatIso8601(int64_t unix_micros);
// "2026-12-07T10:00:00Z", with optional fractional seconds (to the µs), or
// "+00:00" for Z: Unix µs, or nothing (the CLI's --at, S3's LastModified).
std::optional<int64_t> ParseIso8601(const std::string& text);

}  // namespace hearth

#pragma once
// The one form of a request path that every prefix test sees.
//
// Routing compares prefixes of the path: the router's mounts, hearth's own
// "/_hearth/" checks (rate limit, body handling), a site's "/api/", a proxied
// site's path prefix. What the path names is decided later, by an upstream or
// a file system, and those resolve dot-segments and decode escapes. If the two
// readings differ, a prefix can be escaped: "/app/../secret" passes a test for
// "/app/" and names "/secret" upstream. So each protocol (HTTP/1 as it parses,
// HTTP/2 as it prepares a stream) normalises the path once, before anything
// looks at it, and a proxy forwards the normalised path.
//
// The rules, in order (each one is tested in tests/unit/path_test.cpp):
//  1. Refused (400): an encoded '/' or '\' ("%2F", "%5C", which one layer
//     reads as a separator and another does not), an encoded NUL ("%00"), a
//     raw '\' (some servers and browsers read it as '/'), and a "." or ".."
//     segment with parameters (".;x", "..;x": Java servers drop the
//     parameters and then climb).
//  2. "%2E" (either case) is decoded to '.', an unreserved character
//     (RFC 3986 §6.2.2.2); other escapes are kept as they were sent.
//  3. Runs of '/' become one ("//a///b" -> "/a/b").
//  4. "." and ".." segments are removed (RFC 3986 §5.2.4 remove_dot_segments):
//     "/a/b/../c" -> "/a/c", "/a/." -> "/a/". A ".." that would climb above
//     "/" is refused (400), not clamped: no client of a real site sends one.
// A path with none of '%', '\', "//" or a dot segment (nearly every request)
// is left where it is: one scan, no copy, no allocation.
#include <string>
#include <string_view>

namespace hearth {

enum class PathNormal { kUnchanged, kRewritten, kRefused };

// `path` starts with '/'. kUnchanged: `path` is already normal and `out` is
// untouched. kRewritten: the normal form is in `out`. kRefused: rule 1 or a
// ".." above the root; `out` holds nothing useful. `out` must not alias `path`.
PathNormal NormalizePath(std::string_view path, std::string* out);

}  // namespace hearth

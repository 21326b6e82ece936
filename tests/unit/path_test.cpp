// NormalizePath (http/path.h): request path in, normal form or refusal out.
// One table, one row per rule; the HTTP/1 parser's use of it is tested in
// h1_parser_test.cpp.
#include "http/path.h"

#include <gtest/gtest.h>

#include <string>

#include "http/request.h"

namespace hearth {
namespace {

struct Case {
  const char* in;
  PathNormal result;
  const char* out;  // the normal form (kUnchanged: `in` itself)
};

TEST(NormalizePath, Table) {
  const Case cases[] = {
      // Already normal: left alone.
      {"/", PathNormal::kUnchanged, "/"},
      {"/index.html", PathNormal::kUnchanged, "/index.html"},
      {"/a/b/", PathNormal::kUnchanged, "/a/b/"},
      {"/a%20b/c.txt", PathNormal::kUnchanged, "/a%20b/c.txt"},
      {"/.well-known/acme-challenge/x", PathNormal::kUnchanged, "/.well-known/acme-challenge/x"},
      {"/a/...", PathNormal::kUnchanged, "/a/..."},
      {"/a/..b/.c/b..", PathNormal::kUnchanged, "/a/..b/.c/b.."},
      {"/a;b/c", PathNormal::kUnchanged, "/a;b/c"},
      {"/%zz/%4", PathNormal::kUnchanged, "/%zz/%4"},  // not escapes: kept, the handler decides
      {"/%252e%252e/x", PathNormal::kUnchanged, "/%252e%252e/x"},  // decoded once, never twice
      // Rule 2: "%2E" is '.'.
      {"/a%2eb", PathNormal::kRewritten, "/a.b"},
      {"/a%2Eb", PathNormal::kRewritten, "/a.b"},
      // Rule 3: runs of '/'.
      {"//", PathNormal::kRewritten, "/"},
      {"//evil.example", PathNormal::kRewritten, "/evil.example"},
      {"///a//b///", PathNormal::kRewritten, "/a/b/"},
      // Rule 4: dot segments.
      {"/.", PathNormal::kRewritten, "/"},
      {"/./a", PathNormal::kRewritten, "/a"},
      {"/a/.", PathNormal::kRewritten, "/a/"},
      {"/a/./b", PathNormal::kRewritten, "/a/b"},
      {"/a/..", PathNormal::kRewritten, "/"},
      {"/a/../", PathNormal::kRewritten, "/"},
      {"/a/b/..", PathNormal::kRewritten, "/a/"},
      {"/a/b/../c", PathNormal::kRewritten, "/a/c"},
      {"/a/b/c/./../../g", PathNormal::kRewritten, "/a/g"},  // RFC 3986 §5.2.4's example
      {"/app/../secret.txt", PathNormal::kRewritten, "/secret.txt"},
      {"/app/%2e%2e/secret.txt", PathNormal::kRewritten, "/secret.txt"},
      {"/app/%2E%2E/secret.txt", PathNormal::kRewritten, "/secret.txt"},
      {"/app/.%2e/secret.txt", PathNormal::kRewritten, "/secret.txt"},
      {"/app/%2e./secret.txt", PathNormal::kRewritten, "/secret.txt"},
      {"/app/x/../../secret.txt", PathNormal::kRewritten, "/secret.txt"},
      {"/app//../secret.txt", PathNormal::kRewritten, "/secret.txt"},
      {"/_hearth/../api/x", PathNormal::kRewritten, "/api/x"},
      {"/x/../_hearth/api", PathNormal::kRewritten, "/_hearth/api"},
      {"/app/%2e/y", PathNormal::kRewritten, "/app/y"},
      // Rule 1: refused.
      {"/app/..%2fsecret.txt", PathNormal::kRefused, nullptr},
      {"/app/..%2Fsecret.txt", PathNormal::kRefused, nullptr},
      {"/a%2fb", PathNormal::kRefused, nullptr},
      {"/app/..%5csecret.txt", PathNormal::kRefused, nullptr},
      {"/app/..%5Csecret.txt", PathNormal::kRefused, nullptr},
      {"/app/..\\secret.txt", PathNormal::kRefused, nullptr},
      {"/\\evil.example", PathNormal::kRefused, nullptr},
      {"/a%00", PathNormal::kRefused, nullptr},
      {"/app/..;/secret.txt", PathNormal::kRefused, nullptr},
      {"/app/.;x/y", PathNormal::kRefused, nullptr},
      {"/app/%2e%2e;x/y", PathNormal::kRefused, nullptr},
      // ".." above the root.
      {"/..", PathNormal::kRefused, nullptr},
      {"/../secret", PathNormal::kRefused, nullptr},
      {"/%2e%2e/secret", PathNormal::kRefused, nullptr},
      {"/a/../../secret", PathNormal::kRefused, nullptr},
      {"/./../secret", PathNormal::kRefused, nullptr},
  };
  for (const Case& c : cases) {
    std::string out = "untouched";
    PathNormal r = NormalizePath(c.in, &out);
    EXPECT_EQ(static_cast<int>(r), static_cast<int>(c.result)) << c.in;
    if (r != c.result) continue;
    if (c.result == PathNormal::kUnchanged) {
      EXPECT_EQ(out, "untouched") << c.in;
    }
    if (c.result == PathNormal::kRewritten) {
      EXPECT_EQ(out, c.out) << c.in;
      // The normal form is a fixed point.
      std::string again;
      EXPECT_EQ(static_cast<int>(NormalizePath(out, &again)),
                static_cast<int>(PathNormal::kUnchanged))
          << out;
    }
  }
}

TEST(NormalizePath, RequestKeepsTheNormalFormAcrossReuse) {
  Request req;
  std::string raw = "/a/./b//c";
  req.path = raw;
  ASSERT_TRUE(req.NormalizePath());
  EXPECT_EQ(req.path, "/a/b/c");
  ASSERT_TRUE(req.NormalizePath());  // twice: still the same (no aliasing of its own buffer)
  EXPECT_EQ(req.path, "/a/b/c");
  req.Reset();
  std::string star = "*";
  req.path = star;
  EXPECT_TRUE(req.NormalizePath());
  EXPECT_EQ(req.path, "*");
  std::string bad = "/a%2fb";
  req.path = bad;
  EXPECT_FALSE(req.NormalizePath());
}

}  // namespace
}  // namespace hearth

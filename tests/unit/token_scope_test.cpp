// Token scopes as a table: (scope, method, path[, the deploy's or blob's
// site]) -> allowed, each request taken for what the server's route table
// says it is; and the expiry texts tokens take.
#include "api/token_scope.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "api/routes.h"
#include "api/tokens.h"
#include "server/api_routes.h"

namespace hearth::api {
namespace {

struct Row {
  const char* scope;
  Method method;
  const char* path;
  const char*
      owner;  // kPublish/kBlob: the site the deploy or the awaited blob belongs to ("" none)
  bool allowed;
};

constexpr const char* kHash =
    "/_hearth/api/blobs/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

const std::vector<Row> kRows = {
    // admin: everything.
    {"admin", Method::kGet, "/_hearth/api/sites", "", true},
    {"admin", Method::kPost, "/_hearth/api/sites", "", true},
    {"admin", Method::kPost, "/_hearth/api/tokens", "", true},
    {"admin", Method::kGet, "/_hearth/api/tokens", "", true},
    {"admin", Method::kDelete, "/_hearth/api/tokens/abc", "", true},
    {"admin", Method::kDelete, "/_hearth/api/sites/blog.localhost", "", true},
    {"admin", Method::kPost, "/_hearth/api/deploys/7/publish", "", true},
    {"admin", Method::kGet, "/_hearth/metrics", "", true},
    // read: GET and HEAD, never a change, never the token list.
    {"read", Method::kGet, "/_hearth/api/sites", "", true},
    {"read", Method::kHead, "/_hearth/api/sites", "", true},
    {"read", Method::kGet, "/_hearth/api/sites/blog.localhost/versions", "", true},
    {"read", Method::kGet, "/_hearth/api/certs", "", true},
    {"read", Method::kGet, "/_hearth/api/admins", "", true},
    {"read", Method::kGet, "/_hearth/metrics", "", true},
    {"read", Method::kHead, "/_hearth/metrics", "", true},
    {"read", Method::kGet, "/_hearth/api/tokens", "", false},
    {"read", Method::kPost, "/_hearth/api/tokens", "", false},
    {"read", Method::kPost, "/_hearth/api/sites", "", false},
    {"read", Method::kPatch, "/_hearth/api/sites/blog.localhost", "", false},
    {"read", Method::kDelete, "/_hearth/api/sites/blog.localhost", "", false},
    {"read", Method::kPost, "/_hearth/api/sites/blog.localhost/deploys", "", false},
    {"read", Method::kPost, "/_hearth/api/sites/blog.localhost/rollback", "", false},
    {"read", Method::kPost, "/_hearth/api/deploys/7/publish", "blog.localhost", false},
    {"read", Method::kPut, kHash, "blog.localhost", false},
    {"read", Method::kPost, "/_hearth/api/admins", "", false},
    {"read", Method::kDelete, "/_hearth/api/certs/1", "", false},
    // deploy:blog.localhost: that site's deploy steps, rollback and versions only.
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/sites/blog.localhost/deploys", "", true},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/sites/BLOG.localhost/deploys", "", true},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/sites/blog.localhost/deploys/", "",
     true},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/sites/blog.localhost/rollback", "",
     true},
    {"deploy:blog.localhost", Method::kGet, "/_hearth/api/sites/blog.localhost/versions", "", true},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/deploys/7/publish", "blog.localhost",
     true},
    {"deploy:blog.localhost", Method::kPut, kHash, "blog.localhost", true},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/deploys/7/publish", "shop.localhost",
     false},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/deploys/7/publish", "", false},
    {"deploy:blog.localhost", Method::kPut, kHash, "", false},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/sites/shop.localhost/deploys", "",
     false},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/sites/shop.localhost/rollback", "",
     false},
    {"deploy:blog.localhost", Method::kGet, "/_hearth/api/sites/shop.localhost/versions", "",
     false},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/sites/blog.localhost.evil/deploys", "",
     false},
    {"deploy:blog.localhost", Method::kGet, "/_hearth/api/sites", "", false},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/sites", "", false},
    {"deploy:blog.localhost", Method::kPatch, "/_hearth/api/sites/blog.localhost", "", false},
    {"deploy:blog.localhost", Method::kDelete, "/_hearth/api/sites/blog.localhost", "", false},
    {"deploy:blog.localhost", Method::kGet, "/_hearth/api/sites/blog.localhost/collections", "",
     false},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/sites/blog.localhost/collections", "",
     false},
    {"deploy:blog.localhost", Method::kGet, "/_hearth/api/sites/blog.localhost/deploys", "", false},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/sites/blog.localhost/versions", "",
     false},
    {"deploy:blog.localhost", Method::kPost, "/_hearth/api/tokens", "", false},
    {"deploy:blog.localhost", Method::kGet, "/_hearth/api/tokens", "", false},
    {"deploy:blog.localhost", Method::kGet, "/_hearth/metrics", "", false},
    {"deploy:blog.localhost", Method::kGet, "/_hearth/api/certs", "", false},
};

TEST(TokenScope, RouteTimesScopeDecides) {
  sites::SitesShared sites;
  control::ControlShared control;
  RouteTable table;
  ASSERT_TRUE(AddApiRoutes(&table, &sites, nullptr, &control).ok());
  for (const Row& r : kRows) {
    auto scope = ParseScope(r.scope);
    ASSERT_TRUE(scope.ok()) << r.scope;
    ApiTarget target = std::string_view(r.path) == "/_hearth/metrics"
                           ? MetricsTarget(r.method)
                           : table.Target(r.method, r.path);
    EXPECT_EQ(ScopeAllows(*scope, target, r.owner), r.allowed)
        << r.scope << " " << static_cast<int>(r.method) << " " << r.path << " (owner " << r.owner
        << ")";
  }
}

TEST(TokenScope, ParsesAndPrintsScopes) {
  EXPECT_EQ(ScopeText(*ParseScope("admin")), "admin");
  EXPECT_EQ(ScopeText(*ParseScope("read")), "read");
  EXPECT_EQ(ScopeText(*ParseScope("deploy:Blog.Example.com")), "deploy:blog.example.com");
  for (const char* bad :
       {"", "Admin", "write", "deploy:", "deploy:a b", "deploy:http://x.com", "read ", "deploy"})
    EXPECT_FALSE(ParseScope(bad).ok()) << bad;
}

TEST(TokenExpiry, DurationsAndDates) {
  const int64_t now = 1767225600;  // 2026-01-01T00:00:00Z
  EXPECT_EQ(*ParseExpiry("30d", now), now + 30 * 86400);
  EXPECT_EQ(*ParseExpiry("2w", now), now + 14 * 86400);
  EXPECT_EQ(*ParseExpiry("12h", now), now + 12 * 3600);
  EXPECT_EQ(*ParseExpiry("1h30m", now), now + 5400);
  EXPECT_EQ(*ParseExpiry("90", now), now + 90);
  // A day lasts through its end (UTC); a time is that moment.
  EXPECT_EQ(*ParseExpiry("2026-01-31", now), now + 31 * 86400);
  EXPECT_EQ(*ParseExpiry("2026-01-02T12:00:00Z", now), now + 86400 + 12 * 3600);
  EXPECT_EQ(*ParseExpiry("2026-01-02T12:00Z", now), now + 86400 + 12 * 3600);
  for (const char* bad :
       {"", "0", "0d", "soon", "-5d", "30x", "2025-12-31", "2026-13-01", "2026-01-02T25:00:00Z",
        "2026-01-02T12:00:00+02:00", "99999d", "2040-01-01"})
    EXPECT_FALSE(ParseExpiry(bad, now).ok()) << bad;
}

// A token's id is typed on the command line (`hearth tokens rm <id>`): it
// must never look like an option. 12 lower-case hex digits, all distinct.
TEST(TokenIds, AreHexAndNeverLookLikeAnOption) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    TokenRecord t = MakeToken();
    ASSERT_EQ(t.id.size(), 12u);
    EXPECT_EQ(t.id.find_first_not_of("0123456789abcdef"), std::string::npos) << t.id;
    EXPECT_TRUE(seen.insert(t.id).second) << t.id;
  }
}

}  // namespace
}  // namespace hearth::api

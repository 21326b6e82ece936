// The token rule reads the route table: every row of the server's control
// API, for each scope, is allowed exactly where its declared auth says and
// refused elsewhere; and paths written to slip past a row (HEAD, a trailing
// slash, "//", an escaped slash, "..", a method the row lacks) are taken for
// what the table serves them as, never for something a scope allows more of.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "api/routes.h"
#include "api/token_scope.h"
#include "server/api_routes.h"

namespace hearth {
namespace {

using api::ApiTarget;
using api::RouteSpec;
using api::RouteTable;
using api::TokenScope;
using K = ApiTarget::Kind;

struct ServerTable {
  sites::SitesShared sites;
  control::ControlShared control;
  RouteTable table;
  ServerTable() { EXPECT_TRUE(AddApiRoutes(&table, &sites, nullptr, &control).ok()); }
};

constexpr const char* kSite = "blog.localhost";
const std::string kHash(64, 'a');

// A path the row's pattern matches, every "*" filled with what a deploy
// token for kSite would name there (its site, a deploy, a blob).
std::string PathFor(const std::string& pattern) {
  std::string path = "/_hearth/api";
  std::string first = pattern.substr(0, pattern.find('/'));
  size_t start = 0;
  while (true) {
    size_t slash = pattern.find('/', start);
    std::string seg = pattern.substr(start, slash == std::string::npos ? slash : slash - start);
    if (seg == "*")
      seg = first == "sites" ? kSite : first == "deploys" ? "7" : first == "blobs" ? kHash : "x";
    path += "/" + seg;
    if (slash == std::string::npos) return path;
    start = slash + 1;
  }
}

TokenScope Scope(const char* text) {
  auto s = api::ParseScope(text);
  EXPECT_TRUE(s.ok()) << text;
  return s.ok() ? *s : TokenScope{};
}

// What each scope may do to a row of each auth kind, the owner of a deploy
// or a blob being kSite (tokens.cpp looks it up and passes it in).
bool Expected(const TokenScope& scope, K kind) {
  switch (scope.kind) {
    case TokenScope::Kind::kAdmin:
      return true;
    case TokenScope::Kind::kRead:
      return kind == K::kRead || kind == K::kSiteVersions;
    case TokenScope::Kind::kDeploy:
      return scope.site == kSite && (kind == K::kSiteVersions || kind == K::kSiteDeploy ||
                                     kind == K::kPublish || kind == K::kBlob);
  }
  return false;
}

TEST(RouteScope, EveryRowIsAllowedWhereItsScopeSaysYesAndRefusedElsewhere) {
  ServerTable t;
  std::map<K, int> kinds;
  const char* scopes[] = {"admin", "read", "deploy:blog.localhost", "deploy:shop.localhost"};
  for (const RouteSpec& r : t.table.routes()) {
    std::string path = PathFor(r.pattern);
    ApiTarget target = t.table.Target(r.method, path);
    ASSERT_EQ(target.kind, r.auth) << path;
    ++kinds[r.auth];
    for (const char* text : scopes) {
      TokenScope scope = Scope(text);
      EXPECT_EQ(api::ScopeAllows(scope, target, kSite), Expected(scope, r.auth))
          << text << " " << path;
      // A deploy or a blob that belongs to no site of the token's: refused.
      if (r.auth == K::kPublish || r.auth == K::kBlob) {
        EXPECT_EQ(api::ScopeAllows(scope, target, ""), scope.kind == TokenScope::Kind::kAdmin)
            << text << " " << path;
      }
      // HEAD is the GET row's, with its scope.
      if (r.method == Method::kGet) {
        EXPECT_EQ(api::ScopeAllows(scope, t.table.Target(Method::kHead, path), kSite),
                  Expected(scope, r.auth))
            << "HEAD " << text << " " << path;
      }
    }
  }
  // Every kind a row can declare is in the table, so each was checked above.
  for (K k :
       {K::kRead, K::kSiteVersions, K::kSiteDeploy, K::kPublish, K::kBlob, K::kTokens, K::kOther})
    EXPECT_GT(kinds[k], 0) << "no row of kind " << static_cast<int>(k);
}

// The rows a non-admin token may make, pinned: widening a scope (a new row
// of a read or deploy kind, or a row changed to one) needs an edit here.
TEST(RouteScope, TheRowsThatAreNotAdminOnlyArePinned) {
  ServerTable t;
  std::set<std::string> open;
  for (const RouteSpec& r : t.table.routes()) {
    if (r.auth == K::kTokens || r.auth == K::kOther) continue;
    const char* kind = r.auth == K::kRead           ? "read"
                       : r.auth == K::kSiteVersions ? "site-versions"
                       : r.auth == K::kSiteDeploy   ? "site-deploy"
                       : r.auth == K::kPublish      ? "publish"
                       : r.auth == K::kBlob         ? "blob"
                                                    : "?";
    const char* method = r.method == Method::kGet    ? "GET"
                         : r.method == Method::kPost ? "POST"
                         : r.method == Method::kPut  ? "PUT"
                                                     : "other";
    open.insert(std::string(method) + " " + r.pattern + " -> " + kind);
  }
  const std::set<std::string> expected = {
      "GET sites -> read",
      "GET sites/*/versions -> site-versions",
      "POST sites/*/deploys -> site-deploy",
      "POST sites/*/rollback -> site-deploy",
      "PUT blobs/* -> blob",
      "POST deploys/*/publish -> publish",
      "GET admins -> read",
      "GET certs -> read",
      "GET certs/local-ca -> read",
      "GET certs/* -> read",
      "GET sites/*/collections -> read",
      "GET sites/*/collections/* -> read",
  };
  EXPECT_EQ(open, expected);
}

TEST(RouteScope, TheKeyIsTheRowsFirstWildcardSegment) {
  ServerTable t;
  ApiTarget deploy = t.table.Target(Method::kPost, "/_hearth/api/sites/BLOG.localhost/deploys");
  EXPECT_EQ(deploy.kind, K::kSiteDeploy);
  EXPECT_EQ(deploy.key, kSite) << "a site's name is normalized as the API does";
  ApiTarget publish = t.table.Target(Method::kPost, "/_hearth/api/deploys/7/publish");
  EXPECT_EQ(publish.kind, K::kPublish);
  EXPECT_EQ(publish.key, "7");
  ApiTarget blob = t.table.Target(Method::kPut, "/_hearth/api/blobs/" + kHash);
  EXPECT_EQ(blob.kind, K::kBlob);
  EXPECT_EQ(blob.key, kHash);
}

// Whether `scope` may make the request (owner: kSite, the most a deploy
// token could be granted).
bool Allows(const RouteTable& table, const char* scope, Method m, const std::string& path) {
  return api::ScopeAllows(Scope(scope), table.Target(m, path), kSite);
}

TEST(RouteScope, HostilePathsAreTakenForWhatTheTableServesThemAs) {
  ServerTable t;
  const RouteTable& table = t.table;
  const std::string api = "/_hearth/api";
  // HEAD and trailing slashes do not escape the token list.
  for (const char* p : {"/tokens", "/tokens/", "//tokens", "/tokens/abc/", "/tokens/x/y/z"}) {
    EXPECT_EQ(table.Target(Method::kHead, api + p).kind, K::kTokens) << p;
    EXPECT_EQ(table.Target(Method::kGet, api + p).kind, K::kTokens) << p;
    EXPECT_FALSE(Allows(table, "read", Method::kHead, api + p)) << p;
    EXPECT_FALSE(Allows(table, "deploy:blog.localhost", Method::kGet, api + p)) << p;
  }
  // "//" and a trailing slash are the row's own path, as the dispatcher
  // serves it: the same row, so the same rule.
  std::string deploys = api + "/sites/blog.localhost/deploys";
  for (const std::string& p :
       {api + "/sites/blog.localhost/deploys/", api + "//sites//blog.localhost//deploys",
        api + "/sites/" + kSite + "/deploys//"}) {
    EXPECT_EQ(table.Match(Method::kPost, p), table.Match(Method::kPost, deploys)) << p;
    EXPECT_TRUE(Allows(table, "deploy:blog.localhost", Method::kPost, p)) << p;
    EXPECT_FALSE(Allows(table, "deploy:shop.localhost", Method::kPost, p)) << p;
    EXPECT_FALSE(Allows(table, "read", Method::kPost, p)) << p;
  }
  // An escaped slash is no separator here (the parser refuses one anyway): the
  // segment is no site's name, so no deploy scope's.
  std::string escaped = api + "/sites/shop.localhost%2F..%2Fblog.localhost/deploys";
  EXPECT_EQ(table.Target(Method::kPost, escaped).kind, K::kSiteDeploy);
  EXPECT_EQ(table.Target(Method::kPost, escaped).key, "");
  EXPECT_FALSE(Allows(table, "deploy:blog.localhost", Method::kPost, escaped));
  EXPECT_FALSE(Allows(table, "deploy:shop.localhost", Method::kPost, escaped));
  Request refused;
  refused.path = escaped;
  EXPECT_FALSE(refused.NormalizePath()) << "the parser refuses %2F before any of this";
  // ".." left in (the parser resolves it first) matches no row: a change no
  // row serves is admin's. Resolved, it is the row it names, with its rule.
  std::string dots = api + "/sites/shop.localhost/../blog.localhost/deploys";
  EXPECT_EQ(table.Match(Method::kPost, dots), nullptr);
  EXPECT_EQ(table.Target(Method::kPost, dots).kind, K::kOther);
  EXPECT_FALSE(Allows(table, "deploy:blog.localhost", Method::kPost, dots));
  EXPECT_FALSE(Allows(table, "deploy:shop.localhost", Method::kPost, dots));
  Request resolved;
  resolved.method = Method::kPost;
  resolved.path = dots;
  ASSERT_TRUE(resolved.NormalizePath());
  EXPECT_EQ(resolved.path, deploys);
  EXPECT_FALSE(Allows(table, "deploy:shop.localhost", Method::kPost, std::string(resolved.path)));
  // A method the row lacks is no row: GET is a read, anything else admin's.
  EXPECT_EQ(table.Target(Method::kPost, api + "/sites/blog.localhost/versions").kind, K::kOther);
  EXPECT_EQ(table.Target(Method::kDelete, api + "/blobs/" + kHash).kind, K::kOther);
  EXPECT_EQ(table.Target(Method::kGet, api + "/deploys/7/publish").kind, K::kRead);
  EXPECT_EQ(table.Target(Method::kGet, api + "/sites/blog.localhost/deploys").kind, K::kRead);
  for (const char* scope : {"read", "deploy:blog.localhost"}) {
    EXPECT_FALSE(Allows(table, scope, Method::kPost, api + "/sites/blog.localhost/versions"));
    EXPECT_FALSE(Allows(table, scope, Method::kDelete, api + "/blobs/" + kHash));
    EXPECT_FALSE(Allows(table, scope, Method::kPatch, api + "/sites/blog.localhost/deploys"));
  }
  EXPECT_FALSE(Allows(table, "deploy:blog.localhost", Method::kGet, api + "/deploys/7/publish"));
  // An unknown path: a read for GET and HEAD, admin's otherwise, so it is
  // refused (401, 403) before it is found missing (404), as a known one is.
  EXPECT_EQ(table.Target(Method::kGet, api + "/nothing/here").kind, K::kRead);
  EXPECT_EQ(table.Target(Method::kHead, api + "/nothing/here").kind, K::kRead);
  EXPECT_EQ(table.Target(Method::kPost, api + "/nothing/here").kind, K::kOther);
  EXPECT_FALSE(Allows(table, "read", Method::kPost, api + "/nothing/here"));
  EXPECT_FALSE(Allows(table, "deploy:blog.localhost", Method::kGet, api + "/nothing/here"));
  // A literal row shadows the wildcard's: DELETE certs/local-ca is no row.
  EXPECT_EQ(table.Match(Method::kDelete, api + "/certs/local-ca"), nullptr);
}

}  // namespace
}  // namespace hearth

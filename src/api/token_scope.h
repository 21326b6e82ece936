#pragma once
// What an API token may do: its scope, and the one rule that decides whether
// a request is within it. Every place that takes a token (the control API's
// RequireToken, /_hearth/metrics, the console's token login, the data API's
// superuser check) asks here, so a scope means the same thing everywhere.
//
//   admin        everything (what every token could do before scopes)
//   read         GET and HEAD of the control API, and /_hearth/metrics;
//                not the token list
//   deploy:SITE  deploying SITE and rolling it back, nothing else:
//                  GET  sites/SITE/versions
//                  POST sites/SITE/deploys        (may create SITE)
//                  PUT  blobs/HASH                (only a blob a pending deploy of SITE lists)
//                  POST deploys/N/publish         (only a deploy of SITE)
//                  POST sites/SITE/rollback
//
// The rule is a pure function of (scope, what the request touches) so it is
// tested as a table (tests/unit/token_scope_test.cpp). What a control API
// request touches is its route's declared auth (RouteTable::Target, routes.h),
// not a reading of the path of its own; what a deploy or a blob belongs to is
// looked up by the caller (tokens.cpp) and passed in.
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "http/request.h"

namespace hearth::api {

struct TokenScope {
  enum class Kind { kAdmin, kRead, kDeploy };
  Kind kind = Kind::kAdmin;
  std::string site;  // kDeploy: the site's name (a normalized host name)

  bool operator==(const TokenScope&) const = default;
};

// "admin", "read" or "deploy:HOST" (the host normalized as site names are).
Result<TokenScope> ParseScope(std::string_view text);
std::string ScopeText(const TokenScope& scope);

// What a request under /_hearth/ touches, as far as scopes care.
struct ApiTarget {
  // Zero is no kind: a route row whose auth was left out is value-initialized
  // to it and refused (RouteProblem), so it cannot fail open as a read.
  enum class Kind {
    kUnset = 0,
    kRead,          // a GET or HEAD of the control API or of /_hearth/metrics
    kSiteVersions,  // GET sites/SITE/versions (key: the site)
    kSiteDeploy,    // POST sites/SITE/deploys or sites/SITE/rollback (key: the site)
    kPublish,       // POST deploys/N/publish (key: N)
    kBlob,          // PUT blobs/HASH (key: the hash)
    kTokens,        // anything under tokens: admin only, reads too
    kOther,         // every other change: admin only
  };
  Kind kind = Kind::kOther;
  std::string key;
};

// What a request to /_hearth/metrics touches: a read for GET and HEAD.
ApiTarget MetricsTarget(Method method);

// Whether `scope` allows `target`. For kPublish and kBlob `owner_site` is
// the site the deploy (or the pending deploy that lists the blob) belongs
// to, as far as it concerns a deploy scope: the caller passes the scope's
// own site if the blob is wanted by one of its pending deploys, "" if not.
bool ScopeAllows(const TokenScope& scope, const ApiTarget& target,
                 std::string_view owner_site = {});

}  // namespace hearth::api

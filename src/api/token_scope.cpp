#include "api/token_scope.h"

#include "base/strings.h"
#include "http/host_name.h"

namespace hearth::api {

Result<TokenScope> ParseScope(std::string_view text) {
  TokenScope s;
  if (text == "admin") return s;
  if (text == "read") {
    s.kind = TokenScope::Kind::kRead;
    return s;
  }
  constexpr std::string_view kDeploy = "deploy:";
  if (text.substr(0, kDeploy.size()) == kDeploy) {
    auto host = NormalizeHost(text.substr(kDeploy.size()));
    if (!host.ok())
      return Error{"scope deploy:SITE needs a site's host name: " + host.error().message};
    s.kind = TokenScope::Kind::kDeploy;
    s.site = *host;
    return s;
  }
  return Error{"scope must be admin, read or deploy:SITE (not \"" +
               std::string(text.substr(0, 64)) + "\")"};
}

std::string ScopeText(const TokenScope& scope) {
  switch (scope.kind) {
    case TokenScope::Kind::kAdmin:
      return "admin";
    case TokenScope::Kind::kRead:
      return "read";
    case TokenScope::Kind::kDeploy:
      return "deploy:" + scope.site;
  }
  return "admin";
}

ApiTarget MetricsTarget(Method method) {
  bool reads = method == Method::kGet || method == Method::kHead;
  return {reads ? ApiTarget::Kind::kRead : ApiTarget::Kind::kOther, ""};
}

bool ScopeAllows(const TokenScope& scope, const ApiTarget& target, std::string_view owner_site) {
  using K = ApiTarget::Kind;
  switch (scope.kind) {
    case TokenScope::Kind::kAdmin:
      return true;
    case TokenScope::Kind::kRead:
      return target.kind == K::kRead || target.kind == K::kSiteVersions;
    case TokenScope::Kind::kDeploy:
      switch (target.kind) {
        case K::kSiteVersions:
        case K::kSiteDeploy:
          return target.key == scope.site;
        case K::kPublish:
        case K::kBlob:
          return !owner_site.empty() && owner_site == scope.site;
        default:
          return false;
      }
  }
  return false;
}

}  // namespace hearth::api

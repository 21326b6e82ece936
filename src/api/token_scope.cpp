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

ApiTarget ClassifyApiRequest(Method method, std::string_view path) {
  using K = ApiTarget::Kind;
  bool reads = method == Method::kGet || method == Method::kHead;
  if (path == "/_hearth/metrics") return {reads ? K::kRead : K::kOther, ""};
  constexpr std::string_view kApi = "/_hearth/api";
  if (path.substr(0, kApi.size()) != kApi) return {K::kOther, ""};
  // The segments as the API's router sees them (api.cpp: Segments of the rest).
  auto seg = Segments(path.substr(kApi.size()));
  if (!seg.empty() && seg[0] == "tokens") return {K::kTokens, ""};
  auto site = [&]() -> std::string {
    auto host = NormalizeHost(seg[1]);
    return host.ok() ? *host : std::string();
  };
  if (seg.size() == 3 && seg[0] == "sites") {
    std::string name = site();
    if (!name.empty() && seg[2] == "versions" && reads) return {K::kSiteVersions, name};
    if (!name.empty() && (seg[2] == "deploys" || seg[2] == "rollback") && method == Method::kPost)
      return {K::kSiteDeploy, name};
  }
  if (seg.size() == 3 && seg[0] == "deploys" && seg[2] == "publish" && method == Method::kPost)
    return {K::kPublish, std::string(seg[1])};
  if (seg.size() == 2 && seg[0] == "blobs" && method == Method::kPut)
    return {K::kBlob, std::string(seg[1])};
  return {reads ? K::kRead : K::kOther, ""};
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

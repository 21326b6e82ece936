// The sites' control API routes under /_hearth/api/: which path and method
// reach which endpoint (sites_api.cpp, deploys_api.cpp, upload.cpp).
#include "api/routes.h"
#include "base/strings.h"
#include "sites/api_common.h"
#include "sites/manifest.h"
#include "sites/sites.h"

namespace hearth::sites {

Status AddApiRoutes(api::RouteTable* table, SitesShared* shared) {
  using api::ApiCall;
  using api::BodyMode;
  using api::RouteClass;
  using K = api::ApiTarget::Kind;
  // A handler of sites/{name}/...: the name normalized first (400 if it is none).
  auto named = [shared](void (*serve)(SitesShared*, ApiCall&, const std::string&)) {
    return [shared, serve](ApiCall& call) {
      auto name = NormalizeHost(call.seg[1]);
      if (!name.ok()) return Fail(call.res, 400, name.error().message);
      serve(shared, call, *name);
    };
  };
  const api::RouteSpec routes[] = {
      {Method::kGet, "sites", K::kRead, BodyMode::kBuffered, RouteClass::kRead,
       [shared](ApiCall& call) {
         Json(call.res, 200, ListSites(shared->store->Reader(call.reader)));
       }},
      {Method::kPost, "sites", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       [shared](ApiCall& call) { AddSite(shared, call.res, call.body); }},
      {Method::kPatch, "sites/*", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       named([](SitesShared* sh, ApiCall& call, const std::string& name) {
         PatchSite(sh, call.res, name, call.body);
       })},
      {Method::kDelete, "sites/*", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       named([](SitesShared* sh, ApiCall& call, const std::string& name) {
         DeleteSite(sh, call.res, name);
       })},
      {Method::kGet, "sites/*/versions", K::kSiteVersions, BodyMode::kBuffered, RouteClass::kRead,
       named([](SitesShared* sh, ApiCall& call, const std::string& name) {
         GetVersions(sh->store->Reader(call.reader), call.res, name);
       })},
      {Method::kPost, "sites/*/deploys", K::kSiteDeploy, BodyMode::kBuffered, RouteClass::kWrite,
       named([](SitesShared* sh, ApiCall& call, const std::string& name) {
         CreateDeploy(sh, call.res, name, call.body);
       })},
      {Method::kPost, "sites/*/rollback", K::kSiteDeploy, BodyMode::kBuffered, RouteClass::kWrite,
       named([](SitesShared* sh, ApiCall& call, const std::string& name) {
         Rollback(sh, call.res, name, call.body);
       })},
      // Uploads: the body streams through a hash into a spool, up to
      // --max-body-size (docs/sites.md: 413 past it).
      {Method::kPut, "blobs/*", K::kBlob, BodyMode::kStreamed, RouteClass::kWrite,
       [shared](ApiCall& call) {
         PutBlob(shared, shared->store->Reader(call.reader), call.req, call.res,
                 std::string(call.seg[1]));
       }},
      {Method::kPost, "deploys/*/publish", K::kPublish, BodyMode::kBuffered, RouteClass::kWrite,
       [shared](ApiCall& call) { Publish(shared, call.res, call.seg[1], call.body); }},
  };
  for (const auto& r : routes)
    if (Status st = table->Add(r); !st.ok()) return st;
  return OkStatus();
}

}  // namespace hearth::sites

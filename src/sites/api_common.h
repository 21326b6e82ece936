#pragma once
// What the sites' control API endpoints share: the control API's JSON
// answers and deferred writes (api/reply.h), with the sites' own notice
// after a write that changes what hosts serve; the store steps both the
// sites' and the deploys' endpoints take; and the endpoints themselves, for
// the route table (api.cpp).
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/reply.h"
#include "http/request.h"
#include "http/response.h"
#include "sites/sites.h"
#include "store/sqlite.h"

namespace hearth::sites {

using api::Fail;
using api::Json;
using api::Outcome;
using api::Refuse;
using api::WriteFn;

// api::SubmitWrite on the sites' store. What hosts serve follows the
// committed rows (ObserveRouting), not the write: `changes_routing` is
// ignored, and goes once the parallel work on blob writes has landed (its
// removal reflows every caller's lambda).
void SubmitWrite(SitesShared* shared, std::shared_ptr<Reply> reply, WriteFn fn,
                 bool changes_routing);
// The same, deferring `res`.
void DeferWrite(SitesShared* shared, Response& res, WriteFn fn, bool changes_routing);

// PUT /_hearth/api/blobs/{hash}: the body streams in (Request::body_pending),
// is hashed and spooled as it arrives, and is stored once its hash matches.
void PutBlob(SitesShared* shared, store::Connection& rd, Request& req, Response& res,
             const std::string& hash);

// The site named `name` (its id; `live`, if given: its live version, 0 for
// none), or an error naming it.
Result<int64_t> SiteId(store::Connection& c, const std::string& name, int64_t* live = nullptr);
// Inserts a site and its host names (409 into `o` if one belongs to another
// site); its id into `id_out`.
Status CreateSite(store::Connection& c, const std::string& name,
                  const std::vector<std::string>& hosts, Outcome* o, int64_t* id_out);
// Deletes the blobs collected in temp.gc that no version references anymore.
Status SweepBlobs(store::Connection& c);

// The endpoints. Each gets what it uses: the request body already parsed as
// JSON (an object; {} when empty), names already checked by the router.
// sites_api.cpp:
nlohmann::json ListSites(store::Connection& c);
void AddSite(SitesShared* shared, Response& res, const nlohmann::json& body);
void PatchSite(SitesShared* shared, Response& res, const std::string& site,
               const nlohmann::json& body);
void DeleteSite(SitesShared* shared, Response& res, const std::string& site);
// deploys_api.cpp:
void GetVersions(store::Connection& rd, Response& res, const std::string& site);
void CreateDeploy(SitesShared* shared, Response& res, const std::string& site,
                  const nlohmann::json& body);
void Rollback(SitesShared* shared, Response& res, const std::string& site,
              const nlohmann::json& body);
void Publish(SitesShared* shared, Response& res, std::string_view version_text,
             const nlohmann::json& body);

}  // namespace hearth::sites

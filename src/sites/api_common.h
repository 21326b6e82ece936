#pragma once
// What the sites' control API endpoints share: the control API's JSON
// answers and deferred writes (api/reply.h), with the sites' own notice
// after a write that changes what hosts serve.
#include <functional>
#include <memory>
#include <string>

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

// api::SubmitWrite on the sites' store. `changes_routing`: bump the sites
// generation on success so workers reload what hosts serve.
void SubmitWrite(SitesShared* shared, std::shared_ptr<Reply> reply, WriteFn fn,
                 bool changes_routing);
// The same, deferring `res`.
void DeferWrite(SitesShared* shared, Response& res, WriteFn fn, bool changes_routing);

// PUT /_hearth/api/blobs/{hash}: the body streams in (Request::body_pending),
// is hashed and spooled as it arrives, and is stored once its hash matches.
void PutBlob(SitesShared* shared, store::Connection& rd, Request& req, Response& res,
             const std::string& hash);

}  // namespace hearth::sites

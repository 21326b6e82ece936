#pragma once
// The data API's HTTP side.
//
//  * A site's app API, under /api/ on the site's own host, at PocketBase's
//    paths and in its shapes, so the pocketbase JavaScript SDK works against
//    it: /api/health, /api/collections/{c}/records[/{id}] (list, view,
//    create, update, delete), /api/collections/{c}/schema (JSON Schema).
//    Errors are {status, message, data}. Reads run on the worker's own reader
//    of the app database; writes on the app's writer thread.
//  * The control API's collection endpoints, under
//    /_hearth/api/sites/{site}/collections[/{name}] (Bearer token; the caller
//    checks it and that the site exists).
#include <functional>
#include <string>
#include <string_view>

#include "api/routes.h"
#include "data/app.h"
#include "http/request.h"
#include "http/response.h"

namespace hearth::data {

struct DataOptions {
  // Whether an Authorization value (with or without "Bearer ") is a hearth
  // API token: its bearer is a superuser, to whom no rule applies.
  // `reader`: the calling worker's reader index.
  std::function<bool(int reader, std::string_view authorization)> is_superuser;
  // A JSON request body (or a multipart @jsonPayload part) at most this
  // long: 413 past it. Parsed JSON costs many times its text in memory, so
  // this is kept well under the server's max-body-size, which bounds files.
  size_t max_json_bytes = 4u << 20;
};

// Serves /api/... for `site`. False (nothing answered) when the site has no
// app database: the caller serves the path as the site's files.
bool ServeAppApi(Apps* apps, const DataOptions& options, int reader, const std::string& site,
                 Request& req, Response& res);

// GET/POST .../collections, GET/PATCH/DELETE .../collections/{name}.
// `m` is the row's method (GET for a HEAD).
void ServeCollectionsControl(Apps* apps, const std::string& site, std::string_view name, Method m,
                             Request& req, Response& res);

// Registers the collections' control routes: sites/{site}/collections[/{name}]
// under /_hearth/api/. `site_exists(reader, site)`: whether a site has that
// (normalized) name; sites are hearth.db's, which the data API does not read.
Status AddCollectionRoutes(api::RouteTable* table, Apps* apps,
                           std::function<bool(int reader, const std::string& site)> site_exists);

}  // namespace hearth::data

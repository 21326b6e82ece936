#pragma once
// What the data API's record endpoints share (records_api.cpp, batch.cpp):
// the request context, write outcomes, and the write operations themselves,
// so that a batch runs exactly what single requests run.
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/api.h"
#include "data/app.h"
#include "store/sqlite.h"

namespace hearth::data::records {

using nlohmann::json;

// Who is looking: an auth collection's email is shown to superusers, to the
// record itself, and to everyone when its emailVisibility is on.
struct Viewer {
  bool superuser = false;
  std::string auth_id;  // "" for a guest
};

struct Ctx {
  Apps* apps;
  const DataOptions* options;
  int reader;
  std::shared_ptr<App> app;
  std::shared_ptr<const Schema> schema;
  const Collection* c;
  bool superuser;
  json auth = nullptr;  // the signed-in record of an auth collection, if any
  std::string auth_token_key;
  Viewer viewer() const { return Viewer{superuser, auth.is_object() ? auth.value("id", "") : ""}; }
};

struct WriteOutcome {
  int status = 200;
  json body;
  // The realtime event this write makes once committed ("" for none).
  std::string event;
  json record;
  Realtime::Visibility visibility;
};

using WriteFn = std::function<Status(store::Connection&, WriteOutcome*)>;

void PbJson(Response& res, int status, const json& body);
// A request's JSON body: JSON, or multipart/form-data as the SDK sends it
// (an "@jsonPayload" part, plus plain fields). Files are refused (not yet).
Result<json> RequestJson(const Request& req);
// {status, message, data}: PocketBase's error shape.
void PbError(Response& res, int status, const std::string& message, json data = json::object());
// A failed write that the client caused: rolls back, answers {status, message, data}.
Status Refuse(WriteOutcome* o, int status, const std::string& message, json data = json::object());

// On the app's writer thread, inside the caller's transaction: a create (or,
// with create false, an update of record_id) of checked values, with its rule
// and relations checked and its realtime event set in *o.
Status ApplyUpsert(const Ctx& w, store::Connection& c, const json& body,
                   const std::vector<std::pair<std::string, SqlValue>>& vals, bool create, const std::string& record_id,
                   const char* failed, WriteOutcome* o);
// The same for a delete.
Status ApplyDelete(const Ctx& w, store::Connection& c, const std::string& rid, WriteOutcome* o);

// POST /api/batch: several creates, updates, upserts and deletes in one
// transaction: all of them happen, or none.
void ServeBatch(Ctx& x, Request& req, Response& res);

}  // namespace hearth::data::records

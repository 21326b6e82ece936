#pragma once
// What the control API's endpoints share: JSON answers, and writes whose
// answer is sent once the writer thread has committed them.
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>

#include "http/request.h"
#include "http/response.h"
#include "sites/sites.h"
#include "store/sqlite.h"

namespace hearth::sites {

void Json(Response& res, int status, const nlohmann::json& body);
// {"error": message}: every API error is one line for a person.
void Fail(Response& res, int status, const std::string& message);

// An outcome computed on the writer thread and sent from the worker's.
struct Outcome {
  int status = 200;
  nlohmann::json body;
  // Runs once the write has committed, before the answer is sent (on the
  // writer's completion, not a worker).
  std::function<void()> after_commit;
};
using WriteFn = std::function<Status(store::Connection&, Outcome*)>;

// Runs `fn` as a write and finishes `reply` once it has committed (or failed:
// 500, or the status a Refuse() set). `changes_routing`: bump the sites
// generation on success so workers reload what hosts serve.
void SubmitWrite(SitesShared* shared, std::shared_ptr<Reply> reply, WriteFn fn, bool changes_routing);
// The same, deferring `res`.
void DeferWrite(SitesShared* shared, Response& res, WriteFn fn, bool changes_routing);

// A failed write that the client caused: rolls back, answers `status`.
Status Refuse(Outcome* o, int status, const std::string& message);

// PUT /_hearth/api/blobs/{hash}: the body streams in (Request::body_pending),
// is hashed and spooled as it arrives, and is stored once its hash matches.
void PutBlob(SitesShared* shared, store::Connection& rd, Request& req, Response& res, const std::string& hash);

}  // namespace hearth::sites

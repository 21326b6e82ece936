#pragma once
// What every control API endpoint shares, whichever part it belongs to:
// JSON answers, and writes whose answer is sent once the writer thread has
// committed them.
#include <functional>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "http/request.h"
#include "http/response.h"
#include "store/sqlite.h"
#include "store/store.h"

namespace hearth::api {

void Json(Response& res, int status, const nlohmann::json& body);
// {"error": message}: every API error is one line for a person.
void Fail(Response& res, int status, const std::string& message);

// A list endpoint's answer: runs the named statement `statement` on `rd`
// (it binds nothing) and answers 200 {"items": [row(st) for each row]} with
// the fields of `extra` beside it, or 500 with the store's error.
void ListItems(Response& res, store::Connection& rd, std::string_view statement,
               const std::function<nlohmann::json(store::Statement&)>& row,
               const nlohmann::json& extra = nlohmann::json::object());
// 405 for a method the endpoint does not take: Allow lists `methods`
// ("GET, POST") and the error names them ("use GET or POST").
void NotAllowed(Response& res, std::initializer_list<std::string_view> methods);

// An outcome computed on the writer thread and sent from the worker's.
struct Outcome {
  int status = 200;
  nlohmann::json body;
};
using WriteFn = std::function<Status(store::Connection&, Outcome*)>;

// Runs `fn` as a write on `store` and finishes `reply` once it has committed
// (or failed: 500, or the status a Refuse() set). What a committed write
// causes beyond its answer (routing, certificates, ...) is done by the
// store's observers of committed changes (store/observers.h), before this
// answer is sent.
void SubmitWrite(store::Store* store, std::shared_ptr<Reply> reply, WriteFn fn);
// The same, deferring `res`.
void DeferWrite(store::Store* store, Response& res, WriteFn fn);

// A failed write that the client caused: rolls back, answers `status`.
Status Refuse(Outcome* o, int status, const std::string& message);

}  // namespace hearth::api

// POST /api/batch: PocketBase's batch API. Every request is checked on the
// worker first; then all of them run as one write on the app's writer thread
// (one SAVEPOINT: the first failure undoes the others), and their realtime
// events go out after the commit.
#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "data/records_internal.h"

namespace hearth::data::records {
namespace {

constexpr size_t kMaxRequests = 100;

struct Op {
  enum class Kind { kCreate, kUpdate, kUpsert, kDelete } kind;
  Ctx x;
  std::string id;  // update, delete; upsert: from the body
  json body;
  WriteCheck check;  // vals: check.values
  WriteOutcome out;
};

json BatchFailure(size_t index, const json& response) {
  return {{"status", 400},
          {"message", "Batch transaction failed."},
          {"data",
           {{"requests",
             {{std::to_string(index),
               {{"code", "batch_request_failed"},
                {"message", "Batch request failed."},
                {"response", response}}}}}}}};
}

// Splits "/api/collections/{c}/records[/{id}][?query]".
bool ParseUrl(std::string_view url, std::string* collection, std::string* id) {
  url = url.substr(0, url.find('?'));
  constexpr std::string_view kPrefix = "/api/collections/";
  if (url.substr(0, kPrefix.size()) != kPrefix) return false;
  url.remove_prefix(kPrefix.size());
  size_t slash = url.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  *collection = std::string(url.substr(0, slash));
  url.remove_prefix(slash + 1);
  if (url.substr(0, 7) != "records") return false;
  url.remove_prefix(7);
  if (url.empty()) return true;
  if (url[0] != '/' || url.size() == 1 || url.find('/', 1) != std::string_view::npos) return false;
  *id = std::string(url.substr(1));
  return true;
}

}  // namespace

void ServeBatch(Ctx& base, Request& req, Response& res) {
  if (req.method != Method::kPost) return PbError(res, 405, "Use POST.");
  auto parsed = RequestJson(req, base.options->max_json_bytes);
  if (!parsed.ok()) return PbError(res, 400, parsed.error().message);
  json body = std::move(parsed).value();
  if (!body["requests"].is_array() || body["requests"].empty())
    return PbError(res, 400, "The body must be {\"requests\": [...]}.");
  if (body["requests"].size() > kMaxRequests)
    return PbError(res, 400, "At most 100 requests in a batch.");
  auto ops = std::make_shared<std::vector<Op>>();
  for (size_t i = 0; i < body["requests"].size(); ++i) {
    json& r = body["requests"][i];
    auto fail = [&](int status, const std::string& message, json data = json::object()) {
      PbJson(res, 400, BatchFailure(i, {{"status", status}, {"message", message}, {"data", data}}));
    };
    if (!r.is_object() || !r["method"].is_string() || !r["url"].is_string())
      return fail(400, "Each request needs a method and a url.");
    std::string method = r["method"].get<std::string>(), name, id;
    if (!ParseUrl(r["url"].get<std::string>(), &name, &id))
      return fail(404, "Only record URLs may be batched.");
    // Moved, not copied: the body is the request's own.
    Op op{Op::Kind::kCreate,
          base,
          id,
          r.contains("body") ? std::move(r["body"]) : json::object(),
          {},
          {}};
    op.x.c = base.schema->Find(name);
    if (!op.x.c) return fail(404, "Missing collection context.");
    if (method == "POST" && id.empty())
      op.kind = Op::Kind::kCreate;
    else if (method == "PATCH" && !id.empty())
      op.kind = Op::Kind::kUpdate;
    else if (method == "PUT" && id.empty())
      op.kind = Op::Kind::kUpsert;
    else if (method == "DELETE" && !id.empty())
      op.kind = Op::Kind::kDelete;
    else
      return fail(405, "Batch requests are POST, PATCH, PUT (upsert) or DELETE of records.");
    const Collection& c = *op.x.c;
    const auto& rule = op.kind == Op::Kind::kDelete   ? c.delete_rule
                       : op.kind == Op::Kind::kUpdate ? c.update_rule
                                                      : c.create_rule;
    if (!base.superuser && !rule) return fail(403, "Only superusers can perform this action.");
    if (op.kind != Op::Kind::kDelete) {
      if (!op.body.is_object()) return fail(400, "The body must be a JSON object.");
      if (op.kind == Op::Kind::kUpsert) {
        if (!op.body["id"].is_string())
          return fail(400, "An upsert needs the record's id in its body.");
        op.id = op.body["id"].get<std::string>();
      }
      for (const Field& f : c.fields)
        if (f.type == FieldType::kFile)
          for (const std::string& key : {f.name, f.name + "+", "+" + f.name, f.name + "-"})
            if (op.body.contains(key))
              return fail(400,
                          "File fields cannot be changed in a batch: send them with a single "
                          "create or update.");
      // The very checks a single create or update runs (CheckWrite), the
      // old password of a password change included.
      bool create = op.kind == Op::Kind::kCreate;
      std::string_view existing =
          op.kind == Op::Kind::kCreate ? std::string_view() : std::string_view(op.id);
      if (op.kind == Op::Kind::kUpsert && !IsRecordId(op.id)) existing = {};
      Refusal refusal;
      if (!CheckWrite(op.x, op.body, op.kind != Op::Kind::kUpdate, existing, nullptr,
                      create ? "Failed to create record." : "Failed to save record.",
                      json::object(), &op.check, &refusal))
        return fail(refusal.status, refusal.message, refusal.data);
    }
    ops->push_back(std::move(op));
  }
  auto reply = res.Defer();
  auto failure = std::make_shared<json>();
  auto app = base.app;
  auto run = [ops, failure, app, reply]() {
    app->store().SubmitWrite(
        [ops, failure](store::Connection& c) -> Status {
          for (size_t i = 0; i < ops->size(); ++i) {
            Op& op = (*ops)[i];
            Status st = OkStatus();
            switch (op.kind) {
              case Op::Kind::kDelete:
                st = ApplyDelete(op.x, c, op.id, &op.out);
                break;
              case Op::Kind::kCreate:
                st = ApplyUpsert(op.x, c, op.body, op.check.values, true, "",
                                 "Failed to create record.", &op.out);
                break;
              case Op::Kind::kUpdate:
                st = ApplyUpsert(op.x, c, op.body, op.check.values, false, op.id,
                                 "Failed to update record.", &op.out);
                break;
              case Op::Kind::kUpsert: {
                auto exists =
                    c.Cached("SELECT 1 FROM " + QuoteIdent(op.x.c->name) + " WHERE \"id\" = ?1");
                if (!exists.ok()) return exists.error();
                exists->Bind(1, std::string_view(op.id));
                Status s = OkStatus();
                bool found = exists->Step(&s);
                exists->Reset();
                if (!s.ok()) return s;
                if (found && op.check.has_password && !op.check.old_hash && !op.x.superuser) {
                  // Made after the worker looked (and saw none): a change of
                  // its password would skip the old one.
                  st = Refuse(&op.out, 400, "Failed to save record.",
                              {{"oldPassword",
                                {{"code", "validation_required"},
                                 {"message", "Missing required value."}}}});
                  break;
                }
                if (found) {
                  // The id is the record's, not a value to write.
                  std::vector<std::pair<std::string, SqlValue>> vals;
                  for (auto& v : op.check.values)
                    if (v.first != "id") vals.push_back(v);
                  op.check.values = std::move(vals);
                }
                st = ApplyUpsert(op.x, c, op.body, op.check.values, !found, op.id,
                                 "Failed to save record.", &op.out);
                break;
              }
            }
            if (!st.ok()) {
              json response = op.out.body.is_object() ? op.out.body
                                                      : json{{"status", 400},
                                                             {"message", st.error().message},
                                                             {"data", json::object()}};
              *failure = BatchFailure(i, response);
              return st;
            }
          }
          return OkStatus();
        },
        [ops, failure, app, reply](const Status& st) {
          if (!st.ok()) {
            json f = failure->is_object()
                         ? *failure
                         : BatchFailure(0, {{"status", 500}, {"message", st.error().message}});
            return reply->Finish([f](Response& r) { PbJson(r, 400, f); });
          }
          json results = json::array();
          for (auto& op : *ops) {
            if (!op.out.files_gone.empty())  // a deleted record's files
              app->files().Remove(op.out.files_collection, op.out.files_record, op.out.files_gone);
            // 204: deleted, or written but hidden from the requester by the view rule.
            bool empty = op.kind == Op::Kind::kDelete || op.out.status == 204;
            results.push_back(
                {{"status", empty ? 204 : 200}, {"body", empty ? json(nullptr) : op.out.body}});
          }
          reply->Finish([results](Response& r) { PbJson(r, 200, results); });
        });
  };
  bool has_password = false;
  for (auto& op : *ops) has_password |= op.check.has_password;
  if (!has_password) return run();
  bool posted = base.apps->passwords().TryPost(
      [ops, run, reply]() {
        for (size_t i = 0; i < ops->size(); ++i) {
          Refusal refusal;
          if (!FinishPasswords(&(*ops)[i].check, "Failed to save record.", &refusal)) {
            json f = BatchFailure(
                i,
                {{"status", refusal.status}, {"message", refusal.message}, {"data", refusal.data}});
            return reply->Finish([f](Response& r) { PbJson(r, 400, f); });
          }
        }
        run();
      },
      Apps::kMaxPasswordWork);
  if (!posted) reply->Finish([](Response& r) { BusyError(r); });
}

}  // namespace hearth::data::records

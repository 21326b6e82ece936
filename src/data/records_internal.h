#pragma once
// What the data API's record endpoints share (records_api.cpp for reads and
// routing, records_write.cpp, auth_api.cpp, batch.cpp, records_common.cpp):
// the request context, write outcomes, and the write operations themselves,
// so that a batch runs exactly what single requests run.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/api.h"
#include "data/app.h"
#include "data/files.h"
#include "data/filter.h"
#include "data/schema.h"
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

// A request's query parameters, decoded.
struct Query {
  std::vector<std::pair<std::string, std::string>> params;
  std::string_view Get(std::string_view key) const {
    for (const auto& [k, v] : params)
      if (k == key) return v;
    return {};
  }
};

struct WriteOutcome {
  int status = 200;
  json body;
  // Record files to remove once the write has committed (files_gone) or
  // failed (files_new).
  std::string files_collection, files_record;
  std::vector<std::string> files_gone, files_new;
  // A create answered from the values written, with no realtime subscriber
  // to tell: its body is built on the worker that answers, not on the
  // writer thread that every write waits for. Set when the caller allows it
  // (allow_lazy) and keeps `values` and the schema alive (keep).
  bool allow_lazy = false;
  const Collection* lazy_c = nullptr;
  const std::vector<std::pair<std::string, SqlValue>>* lazy_values = nullptr;
  std::string lazy_id, lazy_now;
  std::shared_ptr<const void> keep_values, keep_schema;
};

using WriteFn = std::function<Status(store::Connection&, WriteOutcome*)>;

extern const char* const kNotFound;        // "The requested resource wasn't found."
extern const char* const kSuperusersOnly;  // "Only superusers can perform this action."

void PbJson(Response& res, int status, const json& body);
// A request's JSON body: JSON, or multipart/form-data as the SDK sends it
// (an "@jsonPayload" part of at most `max_json` bytes, plus plain fields),
// read from `raw`. Files go to *uploads (views into `raw`; named "f", "f+"
// or "+f"), or are refused when `uploads` is null. JSON goes through
// ParseJson (base/json.h): depth and size are bounded.
Result<json> RequestJson(const Request& req, std::string_view raw, std::vector<Upload>* uploads,
                         size_t max_json);
Result<json> RequestJson(const Request& req, size_t max_json);  // req.body; no uploads
// {status, message, data}: PocketBase's error shape.
void PbError(Response& res, int status, const std::string& message, json data = json::object());
// 503 + Retry-After: the bounded password queue is full.
void BusyError(Response& res);
// A failed write that the client caused: rolls back, answers {status, message, data}.
Status Refuse(WriteOutcome* o, int status, const std::string& message, json data = json::object());

void BindValue(store::Statement& st, int i, const SqlValue& v);
void BindAll(store::Statement& st, const std::vector<SqlValue>& params, int first = 1);
SqlValue JsonToSql(const json& v);

// The columns every query reads, in the order RowJson expects them.
std::string SelectColumns(const Collection& c, const std::string& alias);
// A row read with SelectColumns as the API shows it (to `v`).
json RowJson(const Collection& c, const store::Statement& st, const Viewer& v = Viewer{true, ""});
// Takes out of a whole record (as superusers see it) what `v` may not see:
// an auth record's email, unless its emailVisibility is on or it is v's own.
// The one place this rule lives: rows (RowJson), new records, realtime.
void HideFor(const Collection& c, const Viewer& v, json* record);
// Who may see a realtime event and how (Realtime::Judge), on the app's
// dispatcher thread with its reader `rd`.
Realtime::Verdict JudgeEvent(App& app, store::Connection& rd, const Realtime::Event& ev,
                             const std::vector<Realtime::Viewer>& viewers);
// A new record as it was just stored, from the values written.
json RecordFromValues(const Collection& c, const std::string& id, const std::string& now,
                      const std::vector<std::pair<std::string, SqlValue>>& vals);
// A record whole (as superusers see it) from its row's columns by name
// (a deleted row's old image, for its realtime event).
json RecordFromRow(const Collection& c,
                   const std::vector<std::pair<std::string, SqlValue>>& columns);
// Who wrote a filter, which decides what its paths may read: the app's
// rules read everything; a client's filter or sort (unless the client is a
// superuser) only what that client may see (records_common.cpp).
enum class Access { kRule, kClient };
// How filter paths, @request.body and @request.auth become SQL for `c`.
// `aliases` numbers the relation joins of one statement (share it between
// the contexts of one query, so no two joins get the same name).
FilterContext MakeContext(const Schema& schema, const Collection& c, const std::string& alias,
                          const json* body, const json* auth, Access access,
                          std::shared_ptr<int> aliases = nullptr);
// The access of a client's own filter and sort: a superuser's read everything.
inline Access ClientAccess(bool superuser) {
  return superuser ? Access::kRule : Access::kClient;
}
// `rule` as SQL for a request that is not a superuser's: nullopt sets *denied
// (superusers only); "" is everyone (empty SQL).
Result<std::string> RuleSql(const std::optional<std::string>& rule, const FilterContext& ctx,
                            std::vector<SqlValue>* params, bool* denied);
// One record by id, if `rule` (for a non-superuser) lets `x` see it.
Result<std::optional<json>> FetchOne(const Ctx& x, store::Connection& c, std::string_view id,
                                     const std::optional<std::string>& rule, const json* body,
                                     bool* denied);

// Why a request is refused: {status, message, data} as PbError answers it.
struct Refusal {
  int status = 400;
  std::string message;
  json data = json::object();
};
// A create's or update's values once the worker has checked them.
struct WriteCheck {
  std::vector<std::pair<std::string, SqlValue>> values;
  bool has_password = false;
  std::optional<std::string> old_hash;  // set: oldPassword must match it
  std::string old_password;
};
// The checks every create and update of one record passes on the worker,
// whether it came alone or in a batch, so the two cannot drift apart: the
// body's values (CheckRecord), `verified` (superusers only), required files
// (`ops`: the request's file operations, null for none), and, for a new
// password on an existing record (`id`; for an upsert, if it exists), the
// old one. `errors`: problems found before (file fields). False: *refusal
// says why.
bool CheckWrite(const Ctx& x, const json& body, bool create, std::string_view id,
                const std::vector<FileOp>* ops, const char* failed, json errors, WriteCheck* out,
                Refusal* refusal);
// Off the worker (the password queue): checks the old password, hashes the
// new one and adds a new tokenKey. False: *refusal says why.
bool FinishPasswords(WriteCheck* w, const char* failed, Refusal* refusal);

// POST (id empty) and PATCH of one record; DELETE of one.
void CreateOrUpdate(Ctx& x, Request& req, Response& res, std::string_view id);
void Delete(Ctx& x, Response& res, std::string_view id);

// A token for record `id` of auth collection `c`, valid for 7 days.
std::string IssueToken(const App& app, const Collection& c, const std::string& id,
                       const std::string& token_key);
// Sets x.auth (and its tokenKey) from an Authorization value carrying a
// valid token of one of this app's auth collections; a bad token: a guest.
void ResolveAuth(Ctx& x, store::Connection& rd, std::string_view authorization);
// A record of an auth collection with its password hash and tokenKey, read
// by `where` ("\"id\"" or "\"email\"") = value.
struct AuthRow {
  json record;
  std::string password_hash, token_key;
};
std::optional<AuthRow> ReadAuthRow(store::Connection& rd, const Collection& c, const char* where,
                                   std::string_view value);
// POST /api/collections/{c}/auth-with-password.
void AuthWithPassword(Ctx& x, Request& req, Response& res, store::Connection& rd);

// On the app's writer thread, inside the caller's transaction: a create (or,
// with create false, an update of record_id) of checked values, with its rule
// and relations checked (its realtime event comes from the app's observer
// once it commits: App::ObserveRecords).
Status ApplyUpsert(const Ctx& w, store::Connection& c, const json& body,
                   const std::vector<std::pair<std::string, SqlValue>>& vals, bool create,
                   const std::string& record_id, const char* failed, WriteOutcome* o,
                   const std::vector<FileOp>* files = nullptr);
// The same for a delete.
Status ApplyDelete(const Ctx& w, store::Connection& c, const std::string& rid, WriteOutcome* o);
// The files a write lets go (o.files_gone) as file-delete ops of its entry,
// so a copy removes them too.
Status RecordGoneFiles(store::Connection& c, const WriteOutcome& o);

// /api/files/{collection}/{record}/{name} (GET) and /api/files/token (POST);
// `seg` is the path's segments ("api", "files", ...).
void ServeFiles(Ctx& x, const std::vector<std::string_view>& seg, Request& req, Response& res);

// POST /api/batch: several creates, updates, upserts and deletes in one
// transaction: all of them happen, or none.
void ServeBatch(Ctx& x, Request& req, Response& res);

}  // namespace hearth::data::records

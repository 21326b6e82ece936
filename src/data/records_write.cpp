// Writes through the records API: create, update, delete, each checked on
// the worker and applied on the app's writer thread, with its realtime event.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "base/log.h"
#include "base/strings.h"
#include "data/auth.h"
#include "data/records_internal.h"
#include "http/multipart.h"

namespace hearth::data::records {

// Whether a request that is not a superuser's may see record `id` under `rule`
// (for realtime events; run inside the write, before a delete).
bool VisibleTo(const Ctx& x, const json& auth, store::Connection& c, const std::string& id,
               const std::optional<std::string>& rule) {
  if (!rule) return false;
  if (rule->empty()) return true;
  Ctx viewer = x;
  viewer.superuser = false;
  viewer.auth = auth;
  bool denied = false;
  auto r = FetchOne(viewer, c, id, rule, nullptr, &denied);
  return r.ok() && r->has_value();
}

// Decides, inside the write, which subscribers may see this change: once per
// distinct identity subscribed to the collection (guests are one).
void SetEvent(WriteOutcome* o, const Ctx& x, store::Connection& c, const char* action, const std::string& id,
              const json& record) {
  if (x.app->realtime().clients() == 0) return;  // nobody to tell
  o->event = action;
  o->record = record;
  for (const auto& v : x.app->realtime().Identities(x.c->name)) {
    bool superuser = v.key == Realtime::kSuperuserKey;
    for (const auto& filter : v.filters) {
      // The collection's rule (none for superusers) and the subscription's filter, both.
      auto passes = [&](const std::optional<std::string>& rule) {
        if (superuser) return VisibleTo(x, v.auth, c, id, filter);
        if (!rule) return false;
        std::string both = filter.empty() ? *rule : rule->empty() ? filter : "(" + *rule + ") && (" + filter + ")";
        return VisibleTo(x, v.auth, c, id, both);
      };
      o->visibility[Realtime::VisibilityKey(v.key, filter)] = {passes(x.c->list_rule), passes(x.c->view_rule)};
    }
  }
}

// Checks that every relation value names an existing record.
Status CheckRelations(store::Connection& c, const Schema& schema, const Collection& col,
                      const std::vector<std::pair<std::string, SqlValue>>& values, json* errors) {
  for (const auto& [name, v] : values) {
    const Field* f = col.Find(name);
    if (!f || f->type != FieldType::kRelation || v.index() != 3) continue;
    const std::string& text = std::get<std::string>(v);
    if (text.empty() || text == "[]") continue;
    const Collection* target = schema.Find(f->collection);
    std::string table = QuoteIdent(target ? target->name : f->collection);
    std::string sql = f->Multi()
                          ? "SELECT (SELECT count(*) FROM json_each(?1)) = (SELECT count(*) FROM " + table +
                                " WHERE \"id\" IN (SELECT value FROM json_each(?1)))"
                          : "SELECT count(*) = 1 FROM " + table + " WHERE \"id\" = ?1";
    auto st = c.Cached(sql);
    if (!st.ok()) return st.error();
    st->Bind(1, std::string_view(text));
    Status s = OkStatus();
    bool ok = st->Step(&s) && st->Int(0) == 1;
    st->Reset();
    if (!s.ok()) return s;
    if (!ok) (*errors)[name] = {{"code", "validation_missing_rel_records"}, {"message", "Failed to find all relation records with the provided ids."}};
  }
  return OkStatus();
}



// Runs `fn` on the app's writer thread; `reply` is finished once it has
// committed, and its realtime event (if any) published.
void WriteWith(std::shared_ptr<App> app, std::string collection, std::shared_ptr<Reply> reply, WriteFn fn) {
  auto out = std::make_shared<WriteOutcome>();
  app->store().SubmitWrite([fn = std::move(fn), out](store::Connection& c) { return fn(c, out.get()); },
                             [reply, out, app, collection](const Status& st) {
                               if (st.ok() && !out->event.empty())
                                 app->realtime().PublishRecord(collection, out->event, out->record, out->visibility);
                               if (!out->files_record.empty())
                                 app->files().Remove(out->files_collection, out->files_record,
                                                     st.ok() ? out->files_gone : out->files_new);
                               if (!st.ok() && out->status < 400) {
                                 out->status = 400;
                                 out->body = {{"status", 400}, {"message", "Something went wrong while processing your request."},
                                              {"data", json::object()}};
                                 out->lazy_c = nullptr;
                               }
                               reply->Finish([out](Response& r) {
                                 if (out->status == 204) {
                                   r.status = 204;
                                   return;
                                 }
                                 if (out->lazy_c)
                                   out->body = RecordFromValues(*out->lazy_c, out->lazy_id, out->lazy_now, *out->lazy_values);
                                 PbJson(r, out->status, out->body);
                               });
                             });
}

void Write(Ctx& x, Response& res, WriteFn fn) { WriteWith(x.app, x.c->name, res.Defer(), std::move(fn)); }

Status Refuse(WriteOutcome* o, int status, const std::string& message, json data) {
  o->status = status;
  o->body = {{"status", status}, {"message", message}, {"data", data}};
  return Error{message};
}

// The file fields' new values, from their current names (none for a new
// record) and the write's file ops; what the write drops is removed once it
// commits, and what it uploaded if it does not.
Status ApplyFiles(const Ctx& w, const std::string& rid, const json* before, const std::vector<FileOp>& files,
                  const char* failed, std::vector<std::pair<std::string, SqlValue>>* vals, WriteOutcome* o) {
  o->files_collection = w.c->id;
  o->files_record = rid;
  json errors = json::object();
  for (const FileOp& op : files) {
    std::vector<std::string> current = before ? FileNames(before->value(op.field->name, json())) : std::vector<std::string>{};
    std::vector<std::string> next = ApplyFileOp(op, current, &errors);
    for (const auto& n : current)
      if (std::find(next.begin(), next.end(), n) == next.end()) o->files_gone.push_back(n);
    if (op.field->Multi()) vals->emplace_back(op.field->name, json(next).dump());
    else vals->emplace_back(op.field->name, next.empty() ? std::string() : next[0]);
  }
  if (!errors.empty()) return Refuse(o, 400, failed, errors);
  return OkStatus();
}

Status ApplyUpsert(const Ctx& w, store::Connection& c, const json& body,
                   const std::vector<std::pair<std::string, SqlValue>>& checked, bool create,
                   const std::string& record_id, const char* failed, WriteOutcome* o,
                   const std::vector<FileOp>* files) {
  json errors = json::object();
  if (Status st = CheckRelations(c, *w.schema, *w.c, checked, &errors); !st.ok()) return st;
  if (!errors.empty()) return Refuse(o, 400, failed, errors);
  std::string now = NowDate();
  std::string rid = record_id;
  bool denied = false;
  const std::vector<std::pair<std::string, SqlValue>>* values = &checked;
  std::vector<std::pair<std::string, SqlValue>> with_files;
  if (create) {
    for (const auto& [k, v] : checked)
      if (k == "id") rid = std::get<std::string>(v);
    if (rid.empty()) rid = NewRecordId();
    if (files && !files->empty()) {
      with_files = checked;
      if (Status st = ApplyFiles(w, rid, nullptr, *files, failed, &with_files, o); !st.ok()) return st;
      values = &with_files;
    }
    const auto& vals = *values;
    std::string cols = "\"id\", \"created\", \"updated\"", marks = "?1, ?2, ?2";
    int n = 2;
    for (const auto& [k, v] : vals) {
      if (k == "id") continue;
      cols += ", " + QuoteIdent(k);
      marks += ", ?" + std::to_string(++n);
    }
    auto st = c.Cached("INSERT INTO " + QuoteIdent(w.c->name) + " (" + cols + ") VALUES (" + marks + ")");
    if (!st.ok()) return st.error();
    st->Bind(1, std::string_view(rid)).Bind(2, std::string_view(now));
    n = 2;
    for (const auto& [k, v] : vals)
      if (k != "id") BindValue(*st, ++n, v);
    if (Status s = st->Run(); !s.ok()) {
      if (s.error().message.find("UNIQUE") != std::string::npos) {
        const char* field = s.error().message.find(".email") != std::string::npos ? "email" : "id";
        return Refuse(o, 400, failed, {{field, {{"code", "validation_not_unique"}, {"message", "Value must be unique."}}}});
      }
      return s;
    }
    if (!w.c->IsAuth() && (w.superuser || (w.c->create_rule && w.c->create_rule->empty()))) {
      if (o->allow_lazy && values == &checked && w.app->realtime().clients() == 0) {
        o->lazy_c = w.c;
        o->lazy_values = &checked;
        o->lazy_id = std::move(rid);
        o->lazy_now = std::move(now);
        return OkStatus();
      }
      o->body = RecordFromValues(*w.c, rid, now, vals);
      SetEvent(o, w, c, "create", rid, o->body);
      return OkStatus();
    }
    // The create rule is checked against the record as it would be stored.
    auto seen = FetchOne(w, c, rid, w.c->create_rule, &body, &denied);
    if (!seen.ok()) return seen.error();
    if (!*seen) return Refuse(o, 400, failed);
    o->body = **seen;
    SetEvent(o, w, c, "create", rid, o->body);
    return OkStatus();
  }
  auto before = FetchOne(w, c, rid, w.c->update_rule, &body, &denied);
  if (!before.ok()) return before.error();
  if (!*before) return Refuse(o, 404, kNotFound);
  if (files && !files->empty()) {
    with_files = checked;
    if (Status st = ApplyFiles(w, rid, &**before, *files, failed, &with_files, o); !st.ok()) return st;
    values = &with_files;
  }
  const auto& vals = *values;
  std::string sets = "\"updated\" = ?1";
  int n = 1;
  for (const auto& [k, v] : vals) sets += ", " + QuoteIdent(k) + " = ?" + std::to_string(++n);
  auto st = c.Cached("UPDATE " + QuoteIdent(w.c->name) + " SET " + sets + " WHERE \"id\" = ?" + std::to_string(n + 1));
  if (!st.ok()) return st.error();
  st->Bind(1, std::string_view(now));
  n = 1;
  for (const auto& [k, v] : vals) BindValue(*st, ++n, v);
  st->Bind(n + 1, std::string_view(rid));
  if (Status s = st->Run(); !s.ok()) {
    if (s.error().message.find("UNIQUE") != std::string::npos)
      return Refuse(o, 400, failed, {{"email", {{"code", "validation_not_unique"}, {"message", "Value must be unique."}}}});
    return s;
  }
  Ctx su = w;
  su.superuser = true;
  auto after = FetchOne(su, c, rid, std::nullopt, nullptr, &denied);
  if (!after.ok()) return after.error();
  o->body = after->value_or(json::object());
  SetEvent(o, w, c, "update", rid, o->body);
  return OkStatus();
}

void CreateOrUpdate(Ctx& x, Request& req, Response& res, std::string_view id) {
  bool create = id.empty();
  const std::optional<std::string>& rule = create ? x.c->create_rule : x.c->update_rule;
  if (!x.superuser && !rule) return PbError(res, 403, kSuperusersOnly);
  if (!create && !IsRecordId(id)) return PbError(res, 404, kNotFound);
  // Uploads are views into the body, which must outlive the request.
  auto raw = std::make_shared<const std::string>(std::move(req.body));
  auto uploads = std::make_shared<std::vector<Upload>>();
  auto parsed = RequestJson(req, *raw, uploads.get());
  if (!parsed.ok()) return PbError(res, 400, parsed.error().message);
  json body = std::move(parsed).value();
  const char* failed = create ? "Failed to create record." : "Failed to update record.";
  json errors = json::object();
  auto ops = std::make_shared<std::vector<FileOp>>(TakeFileOps(*x.c, &body, uploads.get(), &errors));
  auto values = CheckRecord(*x.c, body, create, &errors);
  if (!values.ok()) return PbError(res, 400, values.error().message);
  if (x.c->IsAuth() && !x.superuser && body.contains("verified"))
    errors["verified"] = {{"code", "validation_values_mismatch"}, {"message", "Only superusers can change this."}};
  if (create)
    for (const Field& f : x.c->fields)
      if (f.type == FieldType::kFile && f.required &&
          std::none_of(ops->begin(), ops->end(), [&](const FileOp& op) { return op.field == &f; }))
        errors[f.name] = {{"code", "validation_required"}, {"message", "Cannot be blank."}};
  if (!errors.empty()) return PbError(res, 400, failed, errors);
  std::string record_id(id);
  if (create) {
    // Chosen here, not on the writer thread; uploads go into the record's
    // folder before the record is written.
    for (const auto& [k, v] : *values)
      if (k == "id") record_id = std::get<std::string>(v);
    if (record_id.empty()) {
      record_id = NewRecordId();
      values->emplace_back("id", record_id);
    }
  }
  std::vector<std::string> stored;
  for (const Upload& u : *uploads)
    if (!u.stored.empty()) stored.push_back(u.stored);
  auto shared = std::make_shared<std::pair<json, std::vector<std::pair<std::string, SqlValue>>>>(
      std::move(body), std::move(values).value());
  if (!stored.empty() && !create && !x.superuser) {
    // Nothing is written to disk for a record this request may not change.
    bool denied = false;
    auto seen = FetchOne(x, x.app->store().Reader(x.reader), id, x.c->update_rule, &shared->first, &denied);
    if (!seen.ok() || !*seen) return PbError(res, 404, kNotFound);
  }
  Ctx copy = x;
  WriteFn fn = [copy, shared, create, record_id, failed, ops, stored](store::Connection& c, WriteOutcome* o) -> Status {
    o->allow_lazy = true;
    o->keep_values = shared;
    o->keep_schema = copy.schema;
    if (!stored.empty()) {
      o->files_collection = copy.c->id;
      o->files_record = record_id;
      o->files_new = stored;
    }
    return ApplyUpsert(copy, c, shared->first, shared->second, create, record_id, failed, o, ops.get());
  };
  bool has_password = false;
  for (const auto& [k, v] : shared->second) has_password |= k == "password";
  // Changing one's own password takes the old one: a stolen token alone
  // cannot take the account over. Superusers need not.
  std::optional<std::string> old_hash;
  std::string old_password;
  if (has_password && !create && !x.superuser) {
    const json& b = shared->first;
    if (!b.contains("oldPassword") || !b["oldPassword"].is_string() || b["oldPassword"].get<std::string>().empty())
      return PbError(res, 400, failed, {{"oldPassword", {{"code", "validation_required"}, {"message", "Missing required value."}}}});
    auto row = ReadAuthRow(x.app->store().Reader(x.reader), *x.c, "\"id\"", id);
    if (!row) return PbError(res, 404, kNotFound);
    old_hash = row->password_hash;
    old_password = b["oldPassword"].get<std::string>();
  }
  auto reply = res.Defer();
  if (!has_password && stored.empty()) return WriteWith(x.app, x.c->name, reply, std::move(fn));
  // Off the worker: a new password is hashed (argon2id takes tens of
  // milliseconds) with a new tokenKey that ends the record's older tokens,
  // and uploads are written and synced before the record naming them.
  x.apps->background().Post([shared, app = x.app, name = x.c->name, cid = x.c->id, reply, fn = std::move(fn),
                             old_hash, old_password, failed, has_password, raw, uploads, record_id]() mutable {
    if (old_hash && !VerifyPassword(*old_hash, old_password))
      return reply->Finish([failed](Response& r) {
        PbError(r, 400, failed,
                {{"oldPassword", {{"code", "validation_invalid_old_password"}, {"message", "Missing or invalid old password."}}}});
      });
    std::vector<std::string> written;
    for (const Upload& u : *uploads) {
      if (u.stored.empty()) continue;  // refused, or replaced by a later file for the same field
      if (Status s = app->files().Write(cid, record_id, u.stored, u.data); !s.ok()) {
        app->files().Remove(cid, record_id, written);
        Log(LogLevel::kError, "cannot store an uploaded file", {{"site_file", u.stored}, {"error", s.error().message}});
        return reply->Finish([failed](Response& r) { PbError(r, 500, std::string(failed) + " The file could not be stored."); });
      }
      written.push_back(u.stored);
    }
    if (has_password) {
      for (auto& [k, v] : shared->second)
        if (k == "password") v = HashPassword(std::get<std::string>(v));
      shared->second.emplace_back("tokenKey", RandomKey());
    }
    WriteWith(app, name, reply, std::move(fn));
  });
}

Status ApplyDelete(const Ctx& copy, store::Connection& c, const std::string& rid, WriteOutcome* o) {
  bool denied = false;
  auto found = FetchOne(copy, c, rid, copy.c->delete_rule, nullptr, &denied);
  if (!found.ok()) return found.error();
  if (!*found) return Refuse(o, 404, kNotFound);
  SetEvent(o, copy, c, "delete", rid, **found);  // before it is gone
  auto st = c.Cached("DELETE FROM " + QuoteIdent(copy.c->name) + " WHERE \"id\" = ?1");
  if (!st.ok()) return st.error();
  if (Status s = st->Bind(1, std::string_view(rid)).Run(); !s.ok()) return s;
  o->status = 204;
  // Only the names the deleted row held: a create that reuses the id in the
  // same batch of writes may already have put its own files in the folder.
  for (const Field& f : copy.c->fields)
    if (f.type == FieldType::kFile) {
      auto names = FileNames((**found)[f.name]);
      o->files_gone.insert(o->files_gone.end(), names.begin(), names.end());
    }
  if (!o->files_gone.empty()) {
    o->files_collection = copy.c->id;
    o->files_record = rid;
  }
  return OkStatus();
}

void Delete(Ctx& x, Response& res, std::string_view id) {
  if (!x.superuser && !x.c->delete_rule) return PbError(res, 403, kSuperusersOnly);
  Ctx copy = x;
  std::string rid(id);
  Write(x, res, [copy, rid](store::Connection& c, WriteOutcome* o) { return ApplyDelete(copy, c, rid, o); });
}

}  // namespace hearth::data::records

// Writes through the records API: create, update, delete, each checked on
// the worker and applied on the app's writer thread (their realtime events
// come from the app's observer of committed changes: App::ObserveRecords).
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/strings.h"
#include "crypto/password.h"
#include "crypto/random.h"
#include "data/records_internal.h"
#include "http/multipart.h"

namespace hearth::data::records {

// On the writer: the collections are still those the worker checked the
// request against. A write waits (a password hashed, files synced, a queue);
// a rule tightened meanwhile must not be skipped, so such a write is refused
// and the client sends it again.
// The version is read inside the transaction: a collection change earlier
// in the same group commit has bumped it already, though the snapshot is
// replaced only once the batch commits.
Status SameSchema(const Ctx& w, store::Connection& c, const char* failed, WriteOutcome* o) {
  bool same = w.app->schema() == w.schema;
  if (same) {
    auto st = c.Cached("SELECT value FROM _meta WHERE key = 'schema_version'");
    if (!st.ok()) return st.error();
    Status s = OkStatus();
    same = st->Step(&s) && st->Text(0) == std::to_string(w.schema->version);
    st->Reset();
    if (!s.ok()) return s;
  }
  if (same) return OkStatus();
  return Refuse(
      o, 400,
      std::string(failed) + " The collection changed while the request waited; send it again.");
}

// Record `rid` of w.c whole, as superusers see it (inside the write).
Result<json> FetchWhole(const Ctx& w, store::Connection& c, const std::string& rid) {
  Ctx su = w;
  su.superuser = true;
  bool denied = false;
  auto whole = FetchOne(su, c, rid, std::nullopt, nullptr, &denied);
  if (!whole.ok()) return whole.error();
  if (!*whole) return Error{"record " + rid + " cannot be read back"};
  return std::move(**whole);
}

// What the requester sees of a record it just wrote (`full`, as superusers
// see it). An update is answered as a GET would be: the view rule decides,
// and a record it hides is answered 204, with no body (the update rule may
// let anyone change a field of a record they may not read). A create is
// answered with the record as the requester may see it whatever the view
// rule: it holds only what the requester sent, plus its id and dates (and
// PocketBase's SDK signs up with it: a users collection's view rule is
// usually "id = @request.auth.id", which no guest passes).
Status AnswerWith(const Ctx& w, store::Connection& c, const std::string& rid, json full,
                  bool created, WriteOutcome* o) {
  if (created || w.superuser || (w.c->view_rule && w.c->view_rule->empty())) {
    HideFor(*w.c, w.viewer(), &full);
    o->body = std::move(full);
    return OkStatus();
  }
  bool denied = false;
  auto seen = FetchOne(w, c, rid, w.c->view_rule, nullptr, &denied);
  if (!seen.ok()) return seen.error();
  if (denied || !*seen) {
    o->status = 204;
    o->body = nullptr;
    return OkStatus();
  }
  o->body = std::move(**seen);
  return OkStatus();
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
                          ? "SELECT (SELECT count(*) FROM json_each(?1)) = (SELECT count(*) FROM " +
                                table + " WHERE \"id\" IN (SELECT value FROM json_each(?1)))"
                          : "SELECT count(*) = 1 FROM " + table + " WHERE \"id\" = ?1";
    auto st = c.Cached(sql);
    if (!st.ok()) return st.error();
    st->Bind(1, std::string_view(text));
    Status s = OkStatus();
    bool ok = st->Step(&s) && st->Int(0) == 1;
    st->Reset();
    if (!s.ok()) return s;
    if (!ok)
      (*errors)[name] = {{"code", "validation_missing_rel_records"},
                         {"message", "Failed to find all relation records with the provided ids."}};
  }
  return OkStatus();
}

// Runs `fn` on the app's writer thread; `reply` is finished once it has
// committed (its realtime event, if any, published by then).
void WriteWith(std::shared_ptr<App> app, std::string collection, std::shared_ptr<Reply> reply,
               WriteFn fn) {
  auto out = std::make_shared<WriteOutcome>();
  app->store().SubmitWrite(
      [fn = std::move(fn), out](store::Connection& c) { return fn(c, out.get()); },
      [reply, out, app, collection](const Status& st) {
        if (!out->files_record.empty())
          app->files().Remove(out->files_collection, out->files_record,
                              st.ok() ? out->files_gone : out->files_new);
        if (!st.ok() && out->status < 400) {
          out->status = 400;
          out->body = {{"status", 400},
                       {"message", "Something went wrong while processing your request."},
                       {"data", json::object()}};
          out->lazy_c = nullptr;
        }
        reply->Finish([out](Response& r) {
          if (out->status == 204) {
            r.status = 204;
            return;
          }
          if (out->lazy_c)
            out->body =
                RecordFromValues(*out->lazy_c, out->lazy_id, out->lazy_now, *out->lazy_values);
          PbJson(r, out->status, out->body);
        });
      });
}

void Write(Ctx& x, Response& res, WriteFn fn) {
  WriteWith(x.app, x.c->name, res.Defer(), std::move(fn));
}

Status Refuse(WriteOutcome* o, int status, const std::string& message, json data) {
  o->status = status;
  o->body = {{"status", status}, {"message", message}, {"data", data}};
  return Error{message};
}

// The file fields' new values, from their current names (none for a new
// record) and the write's file ops; what the write drops is removed once it
// commits, and what it uploaded if it does not.
Status ApplyFiles(const Ctx& w, const std::string& rid, const json* before,
                  const std::vector<FileOp>& files, const char* failed,
                  std::vector<std::pair<std::string, SqlValue>>* vals, WriteOutcome* o) {
  o->files_collection = w.c->id;
  o->files_record = rid;
  json errors = json::object();
  for (const FileOp& op : files) {
    std::vector<std::string> current =
        before ? FileNames(before->value(op.field->name, json())) : std::vector<std::string>{};
    std::vector<std::string> next = ApplyFileOp(op, current, &errors);
    for (const auto& n : current)
      if (std::find(next.begin(), next.end(), n) == next.end()) o->files_gone.push_back(n);
    if (op.field->Multi())
      vals->emplace_back(op.field->name, json(next).dump());
    else
      vals->emplace_back(op.field->name, next.empty() ? std::string() : next[0]);
  }
  if (!errors.empty()) return Refuse(o, 400, failed, errors);
  return OkStatus();
}

Status ApplyUpsert(const Ctx& w, store::Connection& c, const json& body,
                   const std::vector<std::pair<std::string, SqlValue>>& checked, bool create,
                   const std::string& record_id, const char* failed, WriteOutcome* o,
                   const std::vector<FileOp>* files) {
  if (Status st = SameSchema(w, c, failed, o); !st.ok()) return st;
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
      if (Status st = ApplyFiles(w, rid, nullptr, *files, failed, &with_files, o); !st.ok())
        return st;
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
    auto st =
        c.Cached("INSERT INTO " + QuoteIdent(w.c->name) + " (" + cols + ") VALUES (" + marks + ")");
    if (!st.ok()) return st.error();
    st->Bind(1, std::string_view(rid)).Bind(2, std::string_view(now));
    n = 2;
    for (const auto& [k, v] : vals)
      if (k != "id") BindValue(*st, ++n, v);
    if (Status s = st->Run(); !s.ok()) {
      if (s.error().message.find("UNIQUE") != std::string::npos) {
        const char* field = s.error().message.find(".email") != std::string::npos ? "email" : "id";
        return Refuse(
            o, 400, failed,
            {{field, {{"code", "validation_not_unique"}, {"message", "Value must be unique."}}}});
      }
      return s;
    }
    bool open_create = w.superuser || (w.c->create_rule && w.c->create_rule->empty());
    if (!w.c->IsAuth() && open_create) {
      if (o->allow_lazy && values == &checked && w.app->realtime().clients() == 0) {
        o->lazy_c = w.c;
        o->lazy_values = &checked;
        o->lazy_id = std::move(rid);
        o->lazy_now = std::move(now);
        return OkStatus();
      }
      json full = RecordFromValues(*w.c, rid, now, vals);
      return AnswerWith(w, c, rid, std::move(full), true, o);
    }
    if (!open_create) {
      // The create rule is checked against the record as it would be stored.
      auto seen = FetchOne(w, c, rid, w.c->create_rule, &body, &denied);
      if (!seen.ok()) return seen.error();
      if (!*seen) return Refuse(o, 400, failed);
    }
    auto full = FetchWhole(w, c, rid);
    if (!full.ok()) return full.error();
    return AnswerWith(w, c, rid, std::move(full).value(), true, o);
  }
  auto before = FetchOne(w, c, rid, w.c->update_rule, &body, &denied);
  if (!before.ok()) return before.error();
  if (!*before) return Refuse(o, 404, kNotFound);
  if (files && !files->empty()) {
    with_files = checked;
    if (Status st = ApplyFiles(w, rid, &**before, *files, failed, &with_files, o); !st.ok())
      return st;
    values = &with_files;
  }
  const auto& vals = *values;
  std::string sets = "\"updated\" = ?1";
  int n = 1;
  for (const auto& [k, v] : vals) sets += ", " + QuoteIdent(k) + " = ?" + std::to_string(++n);
  auto st = c.Cached("UPDATE " + QuoteIdent(w.c->name) + " SET " + sets + " WHERE \"id\" = ?" +
                     std::to_string(n + 1));
  if (!st.ok()) return st.error();
  st->Bind(1, std::string_view(now));
  n = 1;
  for (const auto& [k, v] : vals) BindValue(*st, ++n, v);
  st->Bind(n + 1, std::string_view(rid));
  if (Status s = st->Run(); !s.ok()) {
    if (s.error().message.find("UNIQUE") != std::string::npos)
      return Refuse(
          o, 400, failed,
          {{"email", {{"code", "validation_not_unique"}, {"message", "Value must be unique."}}}});
    return s;
  }
  auto after = FetchWhole(w, c, rid);
  if (!after.ok()) return after.error();
  return AnswerWith(w, c, rid, std::move(after).value(), false, o);
}

bool CheckWrite(const Ctx& x, const json& body, bool create, std::string_view id,
                const std::vector<FileOp>* ops, const char* failed, json errors, WriteCheck* out,
                Refusal* refusal) {
  auto values = CheckRecord(*x.c, body, create, &errors);
  if (!values.ok()) {
    *refusal = {400, values.error().message, json::object()};
    return false;
  }
  if (x.c->IsAuth() && !x.superuser && body.contains("verified"))
    errors["verified"] = {{"code", "validation_values_mismatch"},
                          {"message", "Only superusers can change this."}};
  if (create)
    for (const Field& f : x.c->fields)
      if (f.type == FieldType::kFile && f.required &&
          (!ops || std::none_of(ops->begin(), ops->end(),
                                [&](const FileOp& op) { return op.field == &f; })))
        errors[f.name] = {{"code", "validation_required"}, {"message", "Cannot be blank."}};
  if (!errors.empty()) {
    *refusal = {400, failed, std::move(errors)};
    return false;
  }
  out->values = std::move(values).value();
  out->has_password = false;
  for (const auto& [k, v] : out->values) out->has_password |= k == "password";
  // Changing a password takes the old one: a stolen token alone cannot take
  // the account over. Superusers need not. A create needs none; an update
  // (or an upsert of a record that exists) does.
  if (out->has_password && !x.superuser) {
    std::optional<AuthRow> row;
    if (!id.empty()) row = ReadAuthRow(x.app->store().Reader(x.reader), *x.c, "\"id\"", id);
    if (!create && !row) {
      *refusal = {404, kNotFound, json::object()};
      return false;
    }
    if (row) {
      const json* old = body.contains("oldPassword") ? &body["oldPassword"] : nullptr;
      if (!old || !old->is_string() || old->get<std::string>().empty() ||
          old->get<std::string>().size() > 256) {
        *refusal = {400,
                    failed,
                    {{"oldPassword",
                      {{"code", "validation_required"}, {"message", "Missing required value."}}}}};
        return false;
      }
      out->old_hash = row->password_hash;
      out->old_password = old->get<std::string>();
    }
  }
  return true;
}

bool FinishPasswords(WriteCheck* w, const char* failed, Refusal* refusal) {
  if (!w->has_password) return true;
  if (w->old_hash && !crypto::VerifyPassword(*w->old_hash, w->old_password)) {
    *refusal = {400,
                failed,
                {{"oldPassword",
                  {{"code", "validation_invalid_old_password"},
                   {"message", "Missing or invalid old password."}}}}};
    return false;
  }
  w->old_password.clear();
  for (auto& [k, v] : w->values)
    if (k == "password") v = crypto::HashPassword(std::get<std::string>(v));
  // A new tokenKey ends every token the record had.
  w->values.emplace_back("tokenKey", crypto::RandomChars(30));
  return true;
}

void CreateOrUpdate(Ctx& x, Request& req, Response& res, std::string_view id) {
  bool create = id.empty();
  const std::optional<std::string>& rule = create ? x.c->create_rule : x.c->update_rule;
  if (!x.superuser && !rule) return PbError(res, 403, kSuperusersOnly);
  if (!create && !IsRecordId(id)) return PbError(res, 404, kNotFound);
  // Uploads are views into the body, which must outlive the request.
  auto raw = std::make_shared<const std::string>(std::move(req.body));
  auto uploads = std::make_shared<std::vector<Upload>>();
  auto parsed = RequestJson(req, *raw, uploads.get(), x.options->max_json_bytes);
  if (!parsed.ok()) return PbError(res, 400, parsed.error().message);
  json body = std::move(parsed).value();
  const char* failed = create ? "Failed to create record." : "Failed to update record.";
  json errors = json::object();
  auto ops =
      std::make_shared<std::vector<FileOp>>(TakeFileOps(*x.c, &body, uploads.get(), &errors));
  auto check = std::make_shared<WriteCheck>();
  Refusal refusal;
  if (!CheckWrite(x, body, create, id, ops.get(), failed, std::move(errors), check.get(), &refusal))
    return PbError(res, refusal.status, refusal.message, refusal.data);
  std::string record_id(id);
  if (create) {
    // Chosen here, not on the writer thread; uploads go into the record's
    // folder before the record is written.
    for (const auto& [k, v] : check->values)
      if (k == "id") record_id = std::get<std::string>(v);
    if (record_id.empty()) {
      record_id = NewRecordId();
      check->values.emplace_back("id", record_id);
    }
  }
  std::vector<std::string> stored;
  for (const Upload& u : *uploads)
    if (!u.stored.empty()) stored.push_back(u.stored);
  auto shared = std::make_shared<json>(std::move(body));
  if (!stored.empty() && !create && !x.superuser) {
    // Nothing is written to disk for a record this request may not change.
    bool denied = false;
    auto seen =
        FetchOne(x, x.app->store().Reader(x.reader), id, x.c->update_rule, shared.get(), &denied);
    if (!seen.ok() || !*seen) return PbError(res, 404, kNotFound);
  }
  Ctx copy = x;
  // The uploads as written (name, size, SHA-256): the entry's file-put ops.
  auto uploaded = std::make_shared<std::vector<std::pair<std::string, StoredFile>>>();
  WriteFn fn = [copy, shared, check, create, record_id, failed, ops, stored, uploaded](
                   store::Connection& c, WriteOutcome* o) -> Status {
    o->allow_lazy = true;
    o->keep_values = check;
    o->keep_schema = copy.schema;
    if (!stored.empty()) {
      o->files_collection = copy.c->id;
      o->files_record = record_id;
      o->files_new = stored;
    }
    Status st =
        ApplyUpsert(copy, c, *shared, check->values, create, record_id, failed, o, ops.get());
    if (!st.ok()) return st;
    const std::string folder = copy.c->id + "/" + record_id + "/";
    for (const auto& [name, file] : *uploaded)
      if (Status s = c.RecordFilePut(folder + name, file.size, file.sha256); !s.ok()) return s;
    return RecordGoneFiles(c, *o);
  };
  auto reply = res.Defer();
  if (!check->has_password && stored.empty())
    return WriteWith(x.app, x.c->name, reply, std::move(fn));
  // Off the worker: uploads are written and synced before the record naming
  // them (background queue), after a new password is hashed (argon2id takes
  // tens of milliseconds; the bounded password queue) with a new tokenKey
  // that ends the record's older tokens.
  auto write = [app = x.app, apps = x.apps, name = x.c->name, cid = x.c->id, reply,
                fn = std::move(fn), failed, raw, uploads, record_id, uploaded,
                has_files = !stored.empty()]() mutable {
    if (!has_files) return WriteWith(app, name, reply, std::move(fn));
    apps->background().Post([app, name, cid, reply, fn = std::move(fn), failed, raw, uploads,
                             record_id, uploaded]() mutable {
      std::vector<std::string> written;
      for (const Upload& u : *uploads) {
        if (u.stored.empty()) continue;  // refused, or replaced by a later file for the same field
        auto s = app->files().Write(cid, record_id, u.stored, u.data);
        if (!s.ok()) {
          app->files().Remove(cid, record_id, written);
          Log(LogLevel::kError, "cannot store an uploaded file",
              {{"site_file", u.stored}, {"error", s.error().message}});
          return reply->Finish([failed](Response& r) {
            PbError(r, 500, std::string(failed) + " The file could not be stored.");
          });
        }
        written.push_back(u.stored);
        uploaded->emplace_back(u.stored, std::move(s).value());
      }
      WriteWith(app, name, reply, std::move(fn));
    });
  };
  if (!check->has_password) return write();
  bool posted = x.apps->passwords().TryPost(
      [check, failed, reply, write = std::move(write)]() mutable {
        Refusal refusal;
        if (!FinishPasswords(check.get(), failed, &refusal))
          return reply->Finish([refusal](Response& r) {
            PbError(r, refusal.status, refusal.message, refusal.data);
          });
        write();
      },
      Apps::kMaxPasswordWork);
  if (!posted) reply->Finish([](Response& r) { BusyError(r); });
}

Status ApplyDelete(const Ctx& copy, store::Connection& c, const std::string& rid, WriteOutcome* o) {
  if (Status st = SameSchema(copy, c, "Failed to delete record.", o); !st.ok()) return st;
  bool denied = false;
  auto found = FetchOne(copy, c, rid, copy.c->delete_rule, nullptr, &denied);
  if (!found.ok()) return found.error();
  if (!*found) return Refuse(o, 404, kNotFound);
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
  return RecordGoneFiles(c, *o);
}

Status RecordGoneFiles(store::Connection& c, const WriteOutcome& o) {
  for (const auto& n : o.files_gone)
    if (Status st = c.RecordFileDelete(o.files_collection + "/" + o.files_record + "/" + n);
        !st.ok())
      return st;
  return OkStatus();
}

void Delete(Ctx& x, Response& res, std::string_view id) {
  if (!x.superuser && !x.c->delete_rule) return PbError(res, 403, kSuperusersOnly);
  Ctx copy = x;
  std::string rid(id);
  Write(x, res, [copy, rid](store::Connection& c, WriteOutcome* o) {
    return ApplyDelete(copy, c, rid, o);
  });
}

}  // namespace hearth::data::records

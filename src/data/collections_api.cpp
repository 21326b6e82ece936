// The control API's collection endpoints: each change is one migration in one
// transaction on the app's writer thread, with a schema version that grows.
#include <nlohmann/json.hpp>

#include "api/reply.h"
#include "base/json.h"
#include "data/api.h"
#include "http/host_name.h"

namespace hearth::data {
namespace {

using nlohmann::json;

void Json(Response& res, int status, const json& body) {
  // Text from requests may be in it: invalid UTF-8 is replaced, never thrown on.
  res.SetText(status, "application/json",
              body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  res.SetHeader("Cache-Control", "no-store");
}
void Fail(Response& res, int status, const std::string& message) {
  Json(res, status, {{"error", message}});
}

struct Change {
  enum class Kind { kCreate, kUpdate, kDelete } kind;
  std::string name;  // kUpdate, kDelete
  json body;         // kCreate, kUpdate
};

struct ChangeResult {
  int status = 200;
  std::string error;
  json body;
  std::shared_ptr<Schema> schema;  // after the change
  std::string dropped_id;          // a deleted collection's id (its files go)
};

Status SetVersion(store::Connection& c, int64_t version) {
  auto st = c.Prepare("UPDATE _meta SET value = ?1 WHERE key = 'schema_version'");
  if (!st.ok()) return st.error();
  return st->Bind(1, std::to_string(version)).Run();
}

Status StoreDefinition(store::Connection& c, const Collection& col, bool insert) {
  auto st =
      c.Prepare(insert ? "INSERT INTO _collections(id, name, definition) VALUES (?1, ?2, ?3)"
                       : "UPDATE _collections SET definition = ?3 WHERE id = ?1 AND name = ?2");
  if (!st.ok()) return st.error();
  return st->Bind(1, col.id).Bind(2, col.name).Bind(3, CollectionJson(col).dump()).Run();
}

// Runs on the writer thread, against the stored (authoritative) schema.
Status Apply(store::Connection& c, const Change& ch, ChangeResult* out) {
  auto loaded = LoadSchema(c);
  if (!loaded.ok()) return loaded.error();
  std::shared_ptr<Schema> schema = std::move(loaded).value();
  auto refuse = [&](int status, const std::string& msg) {
    out->status = status;
    out->error = msg;
    return Status(Error{msg});
  };
  const Collection* existing = ch.kind == Change::Kind::kCreate ? nullptr : schema->Find(ch.name);
  if (ch.kind != Change::Kind::kCreate && !existing) return refuse(404, "no collection " + ch.name);
  std::vector<std::string> ddl;
  Collection result;
  if (ch.kind == Change::Kind::kDelete) {
    for (const auto& [n, other] : schema->collections)
      for (const auto& f : other.fields)
        if (f.type == FieldType::kRelation && f.collection == ch.name && n != ch.name)
          return refuse(409,
                        "collection " + n + " relates to " + ch.name + " (field " + f.name + ")");
    out->dropped_id = existing->id;
    ddl.push_back("DROP TABLE " + QuoteIdent(ch.name));
    // Its records' files go with it (removed once this commits).
    if (Status st = c.RecordFileDeleteTree(existing->id); !st.ok()) return st;
    auto del = c.Prepare("DELETE FROM _collections WHERE name = ?1");
    if (!del.ok()) return del.error();
    if (Status st = del->Bind(1, ch.name).Run(); !st.ok()) return st;
    schema->collections.erase(ch.name);
  } else {
    auto parsed = ParseCollection(ch.body, *schema, existing);
    if (!parsed.ok()) return refuse(400, parsed.error().message);
    result = std::move(parsed).value();
    if (existing) {
      auto alter = AlterTableSql(*existing, result);
      if (!alter.ok()) return refuse(400, alter.error().message);
      ddl = std::move(alter).value();
    } else {
      ddl.push_back(CreateTableSql(result));
    }
    if (Status st = StoreDefinition(c, result, existing == nullptr); !st.ok()) return st;
    schema->collections[result.name] = result;
  }
  for (const auto& sql : ddl)
    if (Status st = c.Ddl(sql); !st.ok()) return refuse(400, st.error().message);
  schema->version += 1;
  if (Status st = SetVersion(c, schema->version); !st.ok()) return st;
  out->schema = schema;
  if (ch.kind != Change::Kind::kDelete) {
    out->body = CollectionJson(result);
    out->body["schemaVersion"] = schema->version;
  }
  out->status = ch.kind == Change::Kind::kCreate   ? 201
                : ch.kind == Change::Kind::kUpdate ? 200
                                                   : 204;
  return OkStatus();
}

void Submit(Apps* apps, std::shared_ptr<App> app, Response& res, Change change) {
  auto reply = res.Defer();
  auto out = std::make_shared<ChangeResult>();
  auto ch = std::make_shared<Change>(std::move(change));
  app->store().SubmitWrite(
      [ch, out](store::Connection& c) { return Apply(c, *ch, out.get()); },
      [apps, app, reply, out, ch](const Status& st) {
        // The new snapshot and the "@schema" feed came from the app's
        // observer of `_collections` (App::ObserveSchema) before this runs.
        if (st.ok() && ch->kind == Change::Kind::kDelete && !out->dropped_id.empty()) {
          // Its records' files go with the table, off the writer thread.
          apps->background().Post(
              [app, id = out->dropped_id] { app->files().RemoveCollection(id); });
        }
        ChangeResult r = *out;
        if (!st.ok() && r.error.empty()) {
          r.status = 500;
          r.error = st.error().message;
        }
        reply->Finish([r](Response& res) {
          if (!r.error.empty()) return Fail(res, r.status, r.error);
          if (r.status == 204) {
            res.status = 204;
            return;
          }
          Json(res, r.status, r.body);
        });
      },
      // A schema change is a transaction of its own (Connection::Ddl).
      store::Store::WriteOptions{.alone = true});
}

}  // namespace

void ServeCollectionsControl(Apps* apps, const std::string& site, std::string_view name, Method m,
                             Request& req, Response& res) {
  json body;
  if (m == Method::kPost || m == Method::kPatch) {
    auto parsed = ParseJson(req.body);
    if (!parsed.ok()) return Fail(res, 400, parsed.error().message);
    body = std::move(parsed).value();
    if (!body.is_object()) return Fail(res, 400, "the body must be a JSON object");
  }
  bool writes = m == Method::kPost || m == Method::kPatch || m == Method::kDelete;
  auto got = apps->Get(site, /*create=*/m == Method::kPost);
  if (!got.ok()) return Fail(res, 500, got.error().message);
  std::shared_ptr<App> app = *got;
  if (name.empty()) {
    if (m == Method::kGet) {
      json list = json::array();
      int64_t version = 0;
      if (app) {
        auto schema = app->schema();
        version = schema->version;
        for (const auto& [n, c] : schema->collections) list.push_back(CollectionJson(c));
      }
      return Json(res, 200, {{"schemaVersion", version}, {"items", list}});
    }
    if (m != Method::kPost) return api::NotAllowed(res, {"GET", "POST"});
    return Submit(apps, app, res, Change{Change::Kind::kCreate, "", body});
  }
  if (!app) return Fail(res, 404, "no collection " + std::string(name));
  if (m == Method::kGet) {
    auto schema = app->schema();
    const Collection* c = schema->Find(name);
    if (!c) return Fail(res, 404, "no collection " + std::string(name));
    json out = CollectionJson(*c);
    out["schemaVersion"] = schema->version;
    out["schema"] = JsonSchema(*c, schema->version);
    return Json(res, 200, out);
  }
  if (!writes || m == Method::kPost) return api::NotAllowed(res, {"GET", "PATCH", "DELETE"});
  Submit(apps, app, res,
         Change{m == Method::kPatch ? Change::Kind::kUpdate : Change::Kind::kDelete,
                std::string(name), body});
}

Status AddCollectionRoutes(api::RouteTable* table, Apps* apps,
                           std::function<bool(int reader, const std::string& site)> site_exists) {
  using api::BodyMode;
  using api::RouteClass;
  using K = api::ApiTarget::Kind;
  auto serve = [apps, site_exists](api::ApiCall& call) {
    auto site = NormalizeHost(call.seg[1]);
    if (!site.ok()) return api::Fail(call.res, 400, site.error().message);
    if (!site_exists(call.reader, *site)) return api::Fail(call.res, 404, "no site named " + *site);
    ServeCollectionsControl(apps, *site, call.seg.size() == 4 ? call.seg[3] : std::string_view(),
                            call.method, call.req, call.res);
  };
  const api::RouteSpec routes[] = {
      {Method::kGet, "sites/*/collections", K::kRead, BodyMode::kBuffered, RouteClass::kRead,
       serve},
      {Method::kPost, "sites/*/collections", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       serve},
      {Method::kGet, "sites/*/collections/*", K::kRead, BodyMode::kBuffered, RouteClass::kRead,
       serve},
      {Method::kPatch, "sites/*/collections/*", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       serve},
      {Method::kDelete, "sites/*/collections/*", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       serve},
  };
  for (const auto& r : routes)
    if (Status st = table->Add(r); !st.ok()) return st;
  return OkStatus();
}

}  // namespace hearth::data

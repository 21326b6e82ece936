// A site's app API at PocketBase's paths and in its shapes (see api.h).
#include <nlohmann/json.hpp>

#include <cmath>

#include "base/strings.h"
#include "data/api.h"
#include "data/auth.h"
#include "data/records_internal.h"
#include "http/multipart.h"

namespace hearth::data {
namespace records {

using nlohmann::json;

constexpr int kDefaultPerPage = 30;
constexpr int kMaxPerPage = 1000;

void PbJson(Response& res, int status, const json& body) {
  res.SetText(status, "application/json", body.dump());
  res.SetHeader("Cache-Control", "no-store");
}
Result<json> RequestJson(const Request& req) {
  std::string_view ct = req.Header("Content-Type");
  if (auto boundary = MultipartBoundary(ct); boundary.ok()) {
    auto parts = ParseMultipart(req.body, *boundary);
    if (!parts.ok()) return Error{"The body is not valid multipart/form-data: " + parts.error().message + "."};
    json body = json::object();
    for (const auto& p : *parts) {
      if (!p.filename.empty()) return Error{"File uploads are not supported yet."};
      if (p.name == "@jsonPayload") {
        json payload = json::parse(p.data, nullptr, false);
        if (payload.is_discarded() || !payload.is_object()) return Error{"@jsonPayload must be a JSON object."};
        for (auto it = payload.begin(); it != payload.end(); ++it) body[it.key()] = it.value();
      } else {
        body[p.name] = std::string(p.data);
      }
    }
    return body;
  }
  if (req.body.empty()) return json(json::object());
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Error{"The body must be a JSON object."};
  return body;
}

void PbError(Response& res, int status, const std::string& message, json data) {
  PbJson(res, status, {{"status", status}, {"message", message}, {"data", data}});
}
const char* kNotFound = "The requested resource wasn't found.";
const char* kSuperusersOnly = "Only superusers can perform this action.";

void BindValue(store::Statement& st, int i, const SqlValue& v) {
  switch (v.index()) {
    case 0: st.BindNull(i); break;
    case 1: st.Bind(i, std::get<int64_t>(v)); break;
    case 2: st.Bind(i, std::get<double>(v)); break;
    default: st.Bind(i, std::string_view(std::get<std::string>(v))); break;
  }
}
void BindAll(store::Statement& st, const std::vector<SqlValue>& params, int first = 1) {
  for (size_t i = 0; i < params.size(); ++i) BindValue(st, first + static_cast<int>(i), params[i]);
}

SqlValue JsonToSql(const json& v) {
  if (v.is_null()) return nullptr;
  if (v.is_boolean()) return static_cast<int64_t>(v.get<bool>());
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// The columns every query reads, in the order RowJson expects them.
std::string SelectColumns(const Collection& c, const std::string& alias) {
  std::string cols = alias + ".\"id\", " + alias + ".\"created\", " + alias + ".\"updated\"";
  if (c.IsAuth())
    cols += ", " + alias + ".\"email\", " + alias + ".\"emailVisibility\", " + alias + ".\"verified\"";
  for (const auto& f : c.fields) cols += ", " + alias + "." + QuoteIdent(f.name);
  return cols;
}


json RowJson(const Collection& c, const store::Statement& st, const Viewer& v = Viewer{true, ""}) {
  json r = {{"collectionId", c.id}, {"collectionName", c.name}, {"id", std::string(st.Text(0))},
            {"created", std::string(st.Text(1))}, {"updated", std::string(st.Text(2))}};
  int col = 3;
  if (c.IsAuth()) {
    bool visible = st.Int(4) != 0;
    if (v.superuser || visible || (!v.auth_id.empty() && v.auth_id == st.Text(0))) r["email"] = std::string(st.Text(3));
    r["emailVisibility"] = visible;
    r["verified"] = st.Int(5) != 0;
    col = 6;
  }
  for (const auto& f : c.fields) {
    int i = col++;
    if (f.Multi()) {
      json arr = json::parse(st.Text(i), nullptr, false);
      r[f.name] = arr.is_array() ? arr : json::array();
      continue;
    }
    switch (f.type) {
      case FieldType::kNumber:
        if (sqlite3_column_type(st.raw(), i) == SQLITE_INTEGER) r[f.name] = st.Int(i);
        else r[f.name] = st.Real(i);
        break;
      case FieldType::kBool: r[f.name] = st.Int(i) != 0; break;
      case FieldType::kJson:
        if (st.IsNull(i)) r[f.name] = nullptr;
        else {
          json v = json::parse(st.Text(i), nullptr, false);
          r[f.name] = v.is_discarded() ? json(nullptr) : v;
        }
        break;
      default: r[f.name] = std::string(st.Text(i)); break;
    }
  }
  return r;
}

// A new record as it was just stored, from the values written (what RowJson
// would read back), so a create with no rule to check needs no SELECT.
json RecordFromValues(const Collection& c, const std::string& id, const std::string& now,
                      const std::vector<std::pair<std::string, SqlValue>>& vals) {
  json r = {{"collectionId", c.id}, {"collectionName", c.name}, {"id", id}, {"created", now}, {"updated", now}};
  for (const auto& f : c.fields) {
    const SqlValue* v = nullptr;
    for (const auto& [k, val] : vals)
      if (k == f.name) v = &val;
    if (f.Multi()) {
      json arr = v && v->index() == 3 ? json::parse(std::get<std::string>(*v), nullptr, false) : json::array();
      r[f.name] = arr.is_array() ? arr : json::array();
      continue;
    }
    switch (f.type) {
      case FieldType::kNumber:
        if (!v || v->index() == 0) r[f.name] = 0;
        else if (v->index() == 1) r[f.name] = std::get<int64_t>(*v);
        else {
          double d = std::get<double>(*v);  // NUMERIC stores a whole double as an integer
          if (d == std::floor(d) && std::fabs(d) < 9e15) r[f.name] = static_cast<int64_t>(d);
          else r[f.name] = d;
        }
        break;
      case FieldType::kBool: r[f.name] = v && v->index() == 1 && std::get<int64_t>(*v) != 0; break;
      case FieldType::kJson:
        if (!v || v->index() != 3) r[f.name] = nullptr;
        else {
          json parsed = json::parse(std::get<std::string>(*v), nullptr, false);
          r[f.name] = parsed.is_discarded() ? json(nullptr) : parsed;
        }
        break;
      default: r[f.name] = v && v->index() == 3 ? std::get<std::string>(*v) : std::string(); break;
    }
  }
  return r;
}

// How filter paths become SQL for collection `c` under table alias `alias`:
// its own columns, and through single relations the target's ("author.name").
FilterContext MakeContext(const Schema& schema, const Collection& c, const std::string& alias, const json* body,
                          const json* auth = nullptr) {
  FilterContext ctx;
  ctx.now = NowDate();
  ctx.field = [&schema, &c, alias](std::string_view path, bool* multi) -> Result<std::string> {
    const Collection* col = &c;
    std::string expr_alias = alias;
    std::string prefix, suffix;
    int depth = 0;
    while (true) {
      size_t dot = path.find('.');
      std::string_view head = path.substr(0, dot);
      bool last = dot == std::string_view::npos;
      if (head == "id" || head == "created" || head == "updated" ||
          (col->IsAuth() && (head == "email" || head == "emailVisibility" || head == "verified"))) {
        if (!last) return Error{"filter: " + std::string(head) + " has no fields"};
        return prefix + expr_alias + "." + QuoteIdent(head) + suffix;
      }
      const Field* f = col->Find(head);
      if (!f) return Error{"filter: unknown field \"" + std::string(head) + "\" in " + col->name};
      if (last) {
        *multi = f->Multi();
        return prefix + expr_alias + "." + QuoteIdent(f->name) + suffix;
      }
      if (f->type != FieldType::kRelation || f->Multi())
        return Error{"filter: \"" + std::string(head) + "\" is not a single relation, so it has no fields"};
      if (++depth > 4) return Error{"filter: relation paths go at most 4 deep"};
      const Collection* target = schema.Find(f->collection);
      if (!target) return Error{"filter: no collection " + f->collection};
      std::string next = "j" + std::to_string(depth);
      prefix += "(SELECT ";
      suffix = " FROM " + QuoteIdent(target->name) + " AS " + next + " WHERE " + next + ".\"id\" = " + expr_alias +
               "." + QuoteIdent(f->name) + ")" + suffix;
      expr_alias = next;
      col = target;
      path.remove_prefix(dot + 1);
    }
  };
  ctx.auth = [auth](std::string_view name) -> SqlValue {
    if (!auth || !auth->is_object() || !auth->contains(name)) return nullptr;
    return JsonToSql((*auth)[std::string(name)]);
  };
  ctx.body = [body](std::string_view name) -> SqlValue {
    if (!body || !body->is_object() || !body->contains(name)) return nullptr;
    return JsonToSql((*body)[std::string(name)]);
  };
  return ctx;
}

// `rule` as SQL for a request that is not a superuser's. nullopt rule: only
// superusers (*denied). "": everyone (empty SQL).
Result<std::string> RuleSql(const std::optional<std::string>& rule, const FilterContext& ctx,
                            std::vector<SqlValue>* params, bool* denied) {
  *denied = !rule.has_value();
  if (!rule || rule->empty()) return std::string();
  auto parsed = ParseFilter(*rule);
  if (!parsed.ok()) return parsed.error();
  return FilterToSql(**parsed, ctx, params);
}

struct Query {
  std::vector<std::pair<std::string, std::string>> params;
  std::string_view Get(std::string_view key) const {
    for (const auto& [k, v] : params)
      if (k == key) return v;
    return {};
  }
};

// Keeps only the requested keys ("id,title", "*"; none = all).
json PickFields(json record, std::string_view fields) {
  if (fields.empty()) return record;
  json out = json::object();
  while (!fields.empty()) {
    size_t comma = fields.find(',');
    std::string key(TrimOws(fields.substr(0, comma)));
    if (key == "*") return record;
    if (record.contains(key)) out[key] = record[key];
    if (comma == std::string_view::npos) break;
    fields.remove_prefix(comma + 1);
  }
  return out;
}

// expand=rel1,rel2: the related records (one level), under "expand", each
// only if the target's view rule lets this request see it.
Status Expand(store::Connection& rd, const Schema& schema, const Collection& c, std::string_view expand,
              bool superuser, const json* auth, json* items) {
  Viewer viewer{superuser, auth && auth->is_object() ? auth->value("id", "") : ""};
  while (!expand.empty()) {
    size_t comma = expand.find(',');
    std::string name(TrimOws(expand.substr(0, comma)));
    expand.remove_prefix(comma == std::string_view::npos ? expand.size() : comma + 1);
    if (name.empty()) continue;
    const Field* f = c.Find(name);
    if (!f || f->type != FieldType::kRelation) return Error{"cannot expand \"" + name + "\": not a relation field"};
    const Collection* target = schema.Find(f->collection);
    if (!target) continue;
    std::vector<SqlValue> params;
    FilterContext ctx = MakeContext(schema, *target, "r", nullptr, auth);
    bool denied = false;
    std::string rule;
    if (!superuser) {
      auto r = RuleSql(target->view_rule, ctx, &params, &denied);
      if (!r.ok()) return r.error();
      if (denied) continue;
      rule = *r;
    }
    std::string sql = "SELECT " + SelectColumns(*target, "r") + " FROM " + QuoteIdent(target->name) +
                      " AS r WHERE r.\"id\" = ?" + std::to_string(params.size() + 1) +
                      (rule.empty() ? "" : " AND " + rule);
    auto st = rd.Cached(sql);
    if (!st.ok()) return st.error();
    for (auto& item : *items) {
      std::vector<std::string> ids;
      if (item[name].is_array()) {
        for (const auto& id : item[name]) ids.push_back(id.get<std::string>());
      } else if (item[name].is_string() && !item[name].get<std::string>().empty()) {
        ids.push_back(item[name].get<std::string>());
      }
      json found = json::array();
      for (const auto& id : ids) {
        st->Reset();
        BindAll(*st, params);
        st->Bind(static_cast<int>(params.size()) + 1, std::string_view(id));
        Status s = OkStatus();
        if (st->Step(&s)) found.push_back(RowJson(*target, *st, viewer));
        if (!s.ok()) return s;
      }
      st->Reset();
      if (found.empty()) continue;
      item["expand"][name] = f->Multi() ? found : found[0];
    }
  }
  return OkStatus();
}


void List(Ctx& x, Request& req, Response& res, const Query& q) {
  std::vector<SqlValue> params;
  FilterContext ctx = MakeContext(*x.schema, *x.c, "r", nullptr, &x.auth);
  std::vector<std::string> where;
  if (!x.superuser) {
    bool denied = false;
    auto r = RuleSql(x.c->list_rule, ctx, &params, &denied);
    if (denied) return PbError(res, 403, kSuperusersOnly);
    if (!r.ok()) return PbError(res, 400, r.error().message);
    if (!r->empty()) where.push_back(*r);
  }
  if (std::string_view f = q.Get("filter"); !f.empty()) {
    auto parsed = ParseFilter(f);
    if (!parsed.ok()) return PbError(res, 400, "Invalid filter: " + parsed.error().message);
    auto sql = FilterToSql(**parsed, ctx, &params);
    if (!sql.ok()) return PbError(res, 400, "Invalid filter: " + sql.error().message);
    where.push_back(*sql);
  }
  uint64_t page = 1, per_page = kDefaultPerPage;
  if (std::string_view p = q.Get("page"); !p.empty() && (!ParseUint(p, &page) || page < 1 || page > 1000000000))
    return PbError(res, 400, "page must be a whole number from 1");
  if (std::string_view p = q.Get("perPage"); !p.empty() && (!ParseUint(p, &per_page) || per_page < 1))
    return PbError(res, 400, "perPage must be a whole number from 1");
  if (per_page > kMaxPerPage) per_page = kMaxPerPage;
  std::string order;
  if (std::string_view sort = q.Get("sort"); !sort.empty()) {
    while (!sort.empty()) {
      size_t comma = sort.find(',');
      std::string_view term = TrimOws(sort.substr(0, comma));
      sort.remove_prefix(comma == std::string_view::npos ? sort.size() : comma + 1);
      if (term.empty()) continue;
      bool desc = term[0] == '-';
      if (term[0] == '-' || term[0] == '+') term.remove_prefix(1);
      std::string expr;
      if (term == "@random") {
        expr = "random()";
      } else {
        bool multi = false;
        auto e = ctx.field(term, &multi);
        if (!e.ok()) return PbError(res, 400, "Invalid sort: " + e.error().message.substr(8));
        expr = *e;
      }
      order += (order.empty() ? "" : ", ") + expr + (desc ? " DESC" : " ASC");
    }
  }
  order += std::string(order.empty() ? "" : ", ") + "r.rowid ASC";
  std::string from = " FROM " + QuoteIdent(x.c->name) + " AS r";
  std::string where_sql;
  for (size_t i = 0; i < where.size(); ++i) where_sql += (i ? " AND " : " WHERE ") + where[i];
  store::Connection& rd = x.app->store().Reader(x.reader);
  bool skip_total = q.Get("skipTotal") == "1" || q.Get("skipTotal") == "true";
  int64_t total = -1;
  if (!skip_total) {
    auto st = rd.Cached("SELECT count(*)" + from + where_sql);
    if (!st.ok()) return PbError(res, 400, "Something went wrong while processing your request: " + st.error().message);
    BindAll(*st, params);
    Status s = OkStatus();
    total = st->Step(&s) ? st->Int(0) : 0;
    if (!s.ok()) return PbError(res, 400, "Something went wrong while processing your request: " + s.error().message);
  }
  auto st = rd.Cached("SELECT " + SelectColumns(*x.c, "r") + from + where_sql + " ORDER BY " + order +
                      " LIMIT ? OFFSET ?");
  if (!st.ok()) return PbError(res, 400, "Something went wrong while processing your request: " + st.error().message);
  BindAll(*st, params);
  st->Bind(static_cast<int>(params.size()) + 1, static_cast<int64_t>(per_page));
  st->Bind(static_cast<int>(params.size()) + 2, static_cast<int64_t>((page - 1) * per_page));
  json items = json::array();
  Status s = OkStatus();
  while (st->Step(&s)) items.push_back(RowJson(*x.c, *st, x.viewer()));
  st->Reset();
  if (!s.ok()) return PbError(res, 400, "Something went wrong while processing your request: " + s.error().message);
  if (std::string_view e = q.Get("expand"); !e.empty())
    if (Status ex = Expand(rd, *x.schema, *x.c, e, x.superuser, &x.auth, &items); !ex.ok())
      return PbError(res, 400, ex.error().message);
  if (std::string_view f = q.Get("fields"); !f.empty())
    for (auto& item : items) item = PickFields(item, f);
  int64_t total_pages = skip_total ? -1 : (total + static_cast<int64_t>(per_page) - 1) / static_cast<int64_t>(per_page);
  PbJson(res, 200, {{"page", page}, {"perPage", per_page}, {"totalItems", total}, {"totalPages", total_pages},
                    {"items", items}});
  (void)req;
}

// One record by id, if the rule (for a non-superuser) lets this request see it.
Result<std::optional<json>> FetchOne(const Ctx& x, store::Connection& c, std::string_view id,
                                     const std::optional<std::string>& rule, const json* body, bool* denied) {
  std::vector<SqlValue> params{std::string(id)};
  FilterContext ctx = MakeContext(*x.schema, *x.c, "r", body, &x.auth);
  std::string sql = "SELECT " + SelectColumns(*x.c, "r") + " FROM " + QuoteIdent(x.c->name) + " AS r WHERE r.\"id\" = ?";
  *denied = false;
  if (!x.superuser) {
    auto r = RuleSql(rule, ctx, &params, denied);
    if (!r.ok()) return r.error();
    if (*denied) return std::optional<json>();
    if (!r->empty()) sql += " AND " + *r;
  }
  auto st = c.Cached(sql);
  if (!st.ok()) return st.error();
  BindAll(*st, params);
  Status s = OkStatus();
  std::optional<json> out;
  if (st->Step(&s)) out = RowJson(*x.c, *st, x.viewer());
  st->Reset();
  if (!s.ok()) return s.error();
  return out;
}


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
                               WriteOutcome o = *out;
                               if (!st.ok() && o.status < 400) {
                                 o.status = 400;
                                 o.body = {{"status", 400}, {"message", "Something went wrong while processing your request."},
                                           {"data", json::object()}};
                               }
                               reply->Finish([o](Response& r) {
                                 if (o.status == 204) {
                                   r.status = 204;
                                   return;
                                 }
                                 PbJson(r, o.status, o.body);
                               });
                             });
}

void Write(Ctx& x, Response& res, WriteFn fn) { WriteWith(x.app, x.c->name, res.Defer(), std::move(fn)); }

Status Refuse(WriteOutcome* o, int status, const std::string& message, json data) {
  o->status = status;
  o->body = {{"status", status}, {"message", message}, {"data", data}};
  return Error{message};
}

Status ApplyUpsert(const Ctx& w, store::Connection& c, const json& body,
                   const std::vector<std::pair<std::string, SqlValue>>& vals, bool create, const std::string& record_id,
                   const char* failed, WriteOutcome* o) {
  json errors = json::object();
  if (Status st = CheckRelations(c, *w.schema, *w.c, vals, &errors); !st.ok()) return st;
  if (!errors.empty()) return Refuse(o, 400, failed, errors);
  std::string now = NowDate();
  std::string rid = record_id;
  bool denied = false;
  if (create) {
    for (const auto& [k, v] : vals)
      if (k == "id") rid = std::get<std::string>(v);
    if (rid.empty()) rid = NewRecordId();
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
  auto parsed = RequestJson(req);
  if (!parsed.ok()) return PbError(res, 400, parsed.error().message);
  json body = std::move(parsed).value();
  const char* failed = create ? "Failed to create record." : "Failed to update record.";
  json errors = json::object();
  auto values = CheckRecord(*x.c, body, create, &errors);
  if (!values.ok()) return PbError(res, 400, values.error().message);
  if (x.c->IsAuth() && !x.superuser && body.contains("verified"))
    errors["verified"] = {{"code", "validation_values_mismatch"}, {"message", "Only superusers can change this."}};
  if (!errors.empty()) return PbError(res, 400, failed, errors);
  auto shared = std::make_shared<std::pair<json, std::vector<std::pair<std::string, SqlValue>>>>(
      std::move(body), std::move(values).value());
  Ctx copy = x;
  std::string record_id(id);
  WriteFn fn = [copy, shared, create, record_id, failed](store::Connection& c, WriteOutcome* o) -> Status {
    return ApplyUpsert(copy, c, shared->first, shared->second, create, record_id, failed, o);
  };
  auto reply = res.Defer();
  bool has_password = false;
  for (const auto& [k, v] : shared->second) has_password |= k == "password";
  if (!has_password) return WriteWith(x.app, x.c->name, reply, std::move(fn));
  // A new password: hashed off the worker (argon2id takes tens of
  // milliseconds), with a new tokenKey that ends the record's older tokens.
  x.apps->background().Post([shared, app = x.app, name = x.c->name, reply, fn = std::move(fn)]() mutable {
    for (auto& [k, v] : shared->second)
      if (k == "password") v = HashPassword(std::get<std::string>(v));
    shared->second.emplace_back("tokenKey", RandomKey());
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
  return OkStatus();
}

void Delete(Ctx& x, Response& res, std::string_view id) {
  if (!x.superuser && !x.c->delete_rule) return PbError(res, 403, kSuperusersOnly);
  Ctx copy = x;
  std::string rid(id);
  Write(x, res, [copy, rid](store::Connection& c, WriteOutcome* o) { return ApplyDelete(copy, c, rid, o); });
}

constexpr int64_t kTokenSeconds = 7 * 24 * 3600;

std::string IssueToken(const App& app, const Collection& c, const std::string& id, const std::string& token_key) {
  json payload = {{"id", id}, {"collectionId", c.id}, {"type", "auth"}, {"refreshable", true},
                  {"exp", static_cast<int64_t>(time(nullptr)) + kTokenSeconds}};
  return MakeJwt(payload, app.token_secret() + token_key);
}

// Reads the record `where` names (by id or email) from an auth collection,
// with its password hash and tokenKey (the last two columns).
struct AuthRow {
  json record;
  std::string password_hash, token_key;
};
std::optional<AuthRow> ReadAuthRow(store::Connection& rd, const Collection& c, const char* where, std::string_view value) {
  auto st = rd.Cached("SELECT " + SelectColumns(c, "r") + ", r.\"password\", r.\"tokenKey\" FROM " + QuoteIdent(c.name) +
                      " AS r WHERE r." + where + " = ?1");
  if (!st.ok()) return std::nullopt;
  st->Bind(1, value);
  Status s = OkStatus();
  std::optional<AuthRow> out;
  if (st->Step(&s)) {
    int n = st->Columns();
    out = AuthRow{RowJson(c, *st), std::string(st->Text(n - 2)), std::string(st->Text(n - 1))};
  }
  st->Reset();
  return out;
}

// The signed-in record behind an Authorization value: a token (with or
// without "Bearer ") of one of this app's auth collections, signed with the
// app's secret and the record's current tokenKey, not expired. A bad token
// is a guest, as in PocketBase.
void ResolveAuth(Ctx& x, store::Connection& rd, std::string_view authorization) {
  std::string_view token = TrimOws(authorization);
  if (token.size() > 7 && EqualsIgnoreCase(token.substr(0, 7), "bearer ")) token = TrimOws(token.substr(7));
  auto payload = PeekJwt(token);
  if (!payload || payload->value("type", "") != "auth" || !(*payload)["id"].is_string() ||
      !(*payload)["collectionId"].is_string())
    return;
  const Collection* c = nullptr;
  for (const auto& [n, col] : x.schema->collections)
    if (col.id == (*payload)["collectionId"].get<std::string>() && col.IsAuth()) c = &col;
  if (!c) return;
  auto row = ReadAuthRow(rd, *c, "\"id\"", (*payload)["id"].get<std::string>());
  if (!row || !CheckJwt(token, x.app->token_secret() + row->token_key, time(nullptr))) return;
  x.auth = std::move(row->record);
  x.auth_token_key = std::move(row->token_key);
}

void AuthWithPassword(Ctx& x, Request& req, Response& res, store::Connection& rd) {
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body["identity"].is_string() || !body["password"].is_string())
    return PbError(res, 400, "Failed to authenticate.",
                   {{"identity", {{"code", "validation_required"}, {"message", "Cannot be blank."}}}});
  auto row = ReadAuthRow(rd, *x.c, "\"email\"", body["identity"].get<std::string>());
  auto reply = res.Defer();
  x.apps->background().Post([row, password = body["password"].get<std::string>(), reply, app = x.app,
                             schema = x.schema, c = x.c]() {
    // An unknown identity costs the same time as a wrong password.
    bool ok = row ? VerifyPassword(row->password_hash, password) : (HashPassword(password), false);
    if (!ok)
      return reply->Finish([](Response& r) { PbError(r, 400, "Failed to authenticate."); });
    json out = {{"token", IssueToken(*app, *c, row->record["id"].get<std::string>(), row->token_key)},
                {"record", row->record}};
    (void)schema;
    reply->Finish([out](Response& r) { PbJson(r, 200, out); });
  });
}

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    if (!seg.empty()) out.push_back(seg);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace records

using namespace records;

bool ServeAppApi(Apps* apps, const DataOptions& options, int reader, const std::string& site, Request& req,
                 Response& res) {
  auto got = apps->Get(site, false);
  if (!got.ok()) {
    PbError(res, 500, "the app database cannot be opened");
    return true;
  }
  if (!*got) return false;
  auto seg = Segments(req.path);  // "api", ...
  Method m = req.method;
  if (seg.size() == 2 && seg[1] == "realtime") {
    Realtime& rt = (*got)->realtime();
    if (m == Method::kGet) {
      auto client = rt.Connect(res.MakeWaker());
      if (!client) {
        PbError(res, 503, "Too many realtime clients.");
        return true;
      }
      // The stream owns a guard: when the connection goes, so does the client.
      std::shared_ptr<void> guard(nullptr, [&rt, id = client->id](void*) { rt.Disconnect(id); });
      res.status = 200;
      res.SetHeader("Content-Type", "text/event-stream");
      res.SetHeader("Cache-Control", "no-store");
      res.SetHeader("X-Accel-Buffering", "no");
      res.body_kind = Response::BodyKind::kStream;
      res.stream = [client, guard](std::string& out) {
        std::lock_guard<std::mutex> lock(client->mu);
        if (client->dropped) return false;
        out.swap(client->pending);
        return true;
      };
      return true;
    }
    if (m != Method::kPost) {
      PbError(res, 405, "Use GET or POST.");
      return true;
    }
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("clientId") || !body["clientId"].is_string()) {
      PbError(res, 400, "Missing or invalid client id.");
      return true;
    }
    std::vector<std::string> topics;
    if (body.contains("subscriptions") && !body["subscriptions"].is_null()) {
      if (!body["subscriptions"].is_array() || body["subscriptions"].size() > Realtime::kMaxTopics) {
        PbError(res, 400, "subscriptions must be a list of at most 1000 topics.");
        return true;
      }
      for (const json& t : body["subscriptions"]) {
        if (!t.is_string() || t.get<std::string>().empty() || t.get<std::string>().size() > 2500) {
          PbError(res, 400, "Each subscription is a non-empty string of at most 2500 characters.");
          return true;
        }
        topics.push_back(t.get<std::string>());
      }
    }
    std::string_view auth = req.Header("Authorization");
    bool su = !auth.empty() && options.is_superuser && options.is_superuser(reader, auth);
    Ctx who{apps, &options, reader, *got, (*got)->schema(), nullptr, su, nullptr, ""};
    if (!su && !auth.empty()) ResolveAuth(who, (*got)->store().Reader(reader), auth);
    if (!rt.Subscribe(body["clientId"].get<std::string>(), std::move(topics), su, who.auth)) {
      PbError(res, 404, "Missing or invalid client id.");
      return true;
    }
    res.status = 204;
    return true;
  }
  if (seg.size() == 2 && seg[1] == "health") {
    PbJson(res, 200, {{"code", 200}, {"message", "API is healthy."}, {"data", json::object()}});
    return true;
  }
  if (seg.size() == 2 && seg[1] == "batch") {
    Ctx x{apps, &options, reader, *got, (*got)->schema(), nullptr, false, nullptr, ""};
    std::string_view auth = req.Header("Authorization");
    x.superuser = !auth.empty() && options.is_superuser && options.is_superuser(reader, auth);
    if (!x.superuser && !auth.empty()) ResolveAuth(x, x.app->store().Reader(reader), auth);
    ServeBatch(x, req, res);
    return true;
  }
  if (seg.size() < 4 || seg[1] != "collections" || seg.size() > 5 ||
      (seg[3] != "records" && seg[3] != "schema" && seg[3] != "auth-with-password" && seg[3] != "auth-refresh")) {
    PbError(res, 404, kNotFound);
    return true;
  }
  Ctx x{apps, &options, reader, *got, (*got)->schema(), nullptr, false, nullptr, ""};
  x.c = x.schema->Find(seg[2]);
  if (!x.c) {
    // PocketBase also accepts a collection's id.
    for (const auto& [n, c] : x.schema->collections)
      if (c.id == seg[2]) x.c = &c;
  }
  if (!x.c) {
    PbError(res, 404, "Missing collection context.");
    return true;
  }
  std::string_view auth = req.Header("Authorization");
  x.superuser = !auth.empty() && options.is_superuser && options.is_superuser(reader, auth);
  if (!x.superuser && !auth.empty()) ResolveAuth(x, x.app->store().Reader(reader), auth);
  Query q;
  if (!ParseQueryString(req.query, &q.params)) {
    PbError(res, 400, "The query string is not valid.");
    return true;
  }
  if (seg[3] == "auth-with-password" || seg[3] == "auth-refresh") {
    if (seg.size() != 4 || m != Method::kPost) {
      PbError(res, 405, "Use POST.");
    } else if (!x.c->IsAuth()) {
      PbError(res, 400, "The collection is not an auth collection.");
    } else if (seg[3] == "auth-with-password") {
      AuthWithPassword(x, req, res, x.app->store().Reader(reader));
    } else if (!x.auth.is_object() || x.auth.value("collectionId", "") != x.c->id) {
      PbError(res, 401, "The request requires valid record authorization token.");
    } else {
      PbJson(res, 200, {{"token", IssueToken(*x.app, *x.c, x.auth["id"].get<std::string>(), x.auth_token_key)},
                        {"record", x.auth}});
    }
    return true;
  }
  if (seg[3] == "schema") {
    if (seg.size() != 4 || (m != Method::kGet && m != Method::kHead)) {
      PbError(res, 405, "Use GET.");
    } else if (!x.superuser && !x.c->list_rule) {
      PbError(res, 403, kSuperusersOnly);
    } else {
      PbJson(res, 200, JsonSchema(*x.c, x.schema->version));
    }
    return true;
  }
  if (seg.size() == 4) {
    if (m == Method::kGet || m == Method::kHead) List(x, req, res, q);
    else if (m == Method::kPost) CreateOrUpdate(x, req, res, {});
    else PbError(res, 405, "Use GET or POST.");
    return true;
  }
  std::string_view id = seg[4];
  if (m == Method::kGet || m == Method::kHead) {
    bool denied = false;
    auto one = FetchOne(x, x.app->store().Reader(reader), id, x.c->view_rule, nullptr, &denied);
    if (denied) PbError(res, 403, kSuperusersOnly);
    else if (!one.ok()) PbError(res, 400, "Something went wrong while processing your request: " + one.error().message);
    else if (!*one) PbError(res, 404, kNotFound);
    else {
      json items = json::array({**one});
      if (std::string_view e = q.Get("expand"); !e.empty())
        if (Status ex = Expand(x.app->store().Reader(reader), *x.schema, *x.c, e, x.superuser, &x.auth, &items);
            !ex.ok()) {
          PbError(res, 400, ex.error().message);
          return true;
        }
      PbJson(res, 200, PickFields(items[0], q.Get("fields")));
    }
  } else if (m == Method::kPatch) {
    CreateOrUpdate(x, req, res, id);
  } else if (m == Method::kDelete) {
    Delete(x, res, id);
  } else {
    PbError(res, 405, "Use GET, PATCH or DELETE.");
  }
  return true;
}

}  // namespace hearth::data

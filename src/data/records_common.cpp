// What the record endpoints share: JSON answers, rows to JSON, filters and
// rules to SQL, reading one record (declared in records_internal.h).
#include <cmath>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/strings.h"
#include "data/records_internal.h"
#include "http/multipart.h"

namespace hearth::data::records {

void PbJson(Response& res, int status, const json& body) {
  // Text from requests may be in it: invalid UTF-8 is replaced, never thrown on.
  res.SetText(status, "application/json",
              body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  res.SetHeader("Cache-Control", "no-store");
}
Result<json> RequestJson(const Request& req, std::string_view raw, std::vector<Upload>* uploads,
                         size_t max_json) {
  std::string_view ct = req.Header("Content-Type");
  if (auto boundary = MultipartBoundary(ct); boundary.ok()) {
    auto parts = ParseMultipart(raw, *boundary);
    if (!parts.ok())
      return Error{"The body is not valid multipart/form-data: " + parts.error().message + "."};
    json body = json::object();
    for (const auto& p : *parts) {
      if (!p.filename.empty()) {
        if (!uploads)
          return Error{
              "Files cannot be uploaded in this request: send them with a single create or "
              "update."};
        Upload u;
        u.field = p.name;
        if (!u.field.empty() && u.field.back() == '+') {
          u.mode = Upload::Mode::kAppend;
          u.field.pop_back();
        } else if (!u.field.empty() && u.field[0] == '+') {
          u.mode = Upload::Mode::kPrepend;
          u.field.erase(0, 1);
        }
        u.original = p.filename;
        u.data = p.data;
        uploads->push_back(std::move(u));
        continue;
      }
      if (p.name == "@jsonPayload") {
        if (p.data.size() > max_json)
          return Error{"@jsonPayload is larger than " + std::to_string(max_json) + " bytes."};
        auto payload = ParseJson(p.data);
        if (!payload.ok()) return Error{"@jsonPayload: " + payload.error().message};
        if (!payload->is_object()) return Error{"@jsonPayload must be a JSON object."};
        for (auto it = payload->begin(); it != payload->end(); ++it)
          body[it.key()] = std::move(it.value());
      } else {
        body[p.name] = std::string(p.data);
      }
    }
    return body;
  }
  if (raw.empty()) return json(json::object());
  // ServeAppApi has refused a JSON body over the limit already.
  auto body = ParseJson(raw);
  if (!body.ok()) return body.error();
  if (!body->is_object()) return Error{"The body must be a JSON object."};
  return body;
}

Result<json> RequestJson(const Request& req, size_t max_json) {
  return RequestJson(req, req.body, nullptr, max_json);
}

void PbError(Response& res, int status, const std::string& message, json data) {
  PbJson(res, status, {{"status", status}, {"message", message}, {"data", data}});
}
void BusyError(Response& res) {
  PbError(res, 503, "Too many requests are waiting for a password check; try again shortly.");
  res.SetHeader("Retry-After", "1");
}
const char* const kNotFound = "The requested resource wasn't found.";
const char* const kSuperusersOnly = "Only superusers can perform this action.";

void BindValue(store::Statement& st, int i, const SqlValue& v) {
  switch (v.index()) {
    case 0:
      st.BindNull(i);
      break;
    case 1:
      st.Bind(i, std::get<int64_t>(v));
      break;
    case 2:
      st.Bind(i, std::get<double>(v));
      break;
    default:
      st.Bind(i, std::string_view(std::get<std::string>(v)));
      break;
  }
}
void BindAll(store::Statement& st, const std::vector<SqlValue>& params, int first) {
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
    cols +=
        ", " + alias + ".\"email\", " + alias + ".\"emailVisibility\", " + alias + ".\"verified\"";
  for (const auto& f : c.fields) cols += ", " + alias + "." + QuoteIdent(f.name);
  return cols;
}

json RowJson(const Collection& c, const store::Statement& st, const Viewer& v) {
  json r = {{"collectionId", c.id},
            {"collectionName", c.name},
            {"id", std::string(st.Text(0))},
            {"created", std::string(st.Text(1))},
            {"updated", std::string(st.Text(2))}};
  int col = 3;
  if (c.IsAuth()) {
    r["email"] = std::string(st.Text(3));
    r["emailVisibility"] = st.Int(4) != 0;
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
        if (sqlite3_column_type(st.raw(), i) == SQLITE_INTEGER)
          r[f.name] = st.Int(i);
        else
          r[f.name] = st.Real(i);
        break;
      case FieldType::kBool:
        r[f.name] = st.Int(i) != 0;
        break;
      case FieldType::kJson:
        if (st.IsNull(i))
          r[f.name] = nullptr;
        else {
          json v = json::parse(st.Text(i), nullptr, false);
          r[f.name] = v.is_discarded() ? json(nullptr) : v;
        }
        break;
      default:
        r[f.name] = std::string(st.Text(i));
        break;
    }
  }
  HideFor(c, v, &r);
  return r;
}

void HideFor(const Collection& c, const Viewer& v, json* record) {
  if (!c.IsAuth() || v.superuser) return;
  auto visible = record->find("emailVisibility");
  if (visible != record->end() && visible->is_boolean() && visible->get<bool>()) return;
  auto id = record->find("id");
  if (!v.auth_id.empty() && id != record->end() && id->is_string() &&
      id->get<std::string>() == v.auth_id)
    return;
  record->erase("email");
}

// A record's JSON (RowJson's, as superusers see it) as the values its row
// holds, in SelectColumns' order: what the rules of a realtime event are
// checked against.
std::vector<SqlValue> RowValues(const Collection& c, const json& record) {
  auto text = [&](const char* key) -> SqlValue {
    auto it = record.find(key);
    return it != record.end() && it->is_string() ? SqlValue(it->get<std::string>())
                                                 : SqlValue(std::string());
  };
  std::vector<SqlValue> out{text("id"), text("created"), text("updated")};
  if (c.IsAuth()) {
    out.push_back(text("email"));
    out.push_back(static_cast<int64_t>(record.value("emailVisibility", false)));
    out.push_back(static_cast<int64_t>(record.value("verified", false)));
  }
  for (const auto& f : c.fields) {
    auto it = record.find(f.name);
    if (it == record.end()) {
      out.push_back(nullptr);
    } else if (f.Multi() || f.type == FieldType::kJson) {
      // Stored as JSON text (a JSON field's null is NULL).
      out.push_back(it->is_null() && !f.Multi() ? SqlValue(nullptr) : SqlValue(it->dump()));
    } else {
      out.push_back(JsonToSql(*it));
    }
  }
  return out;
}

// Who may see one realtime event, and how (Realtime::Judge). Runs on the
// app's dispatcher thread with its own reader `rd`. The rules and filters are
// checked against the event's record as it was committed (a row made of its
// values: a deleted record has no row any more, and a later write must not
// decide what an earlier event shows); relation paths read the tables.
Realtime::Verdict JudgeEvent(App& app, store::Connection& rd, const Realtime::Event& ev,
                             const std::vector<Realtime::Viewer>& viewers) {
  Realtime::Verdict out;
  auto schema = app.schema();
  const Collection* c = schema->Find(ev.collection);
  if (!c) return out;
  std::vector<SqlValue> row = RowValues(*c, ev.record);
  std::string cte = "WITH \"_hearth_event\"(\"id\", \"created\", \"updated\"";
  if (c->IsAuth()) cte += ", \"email\", \"emailVisibility\", \"verified\"";
  for (const auto& f : c->fields) cte += ", " + QuoteIdent(f.name);
  cte += ") AS (VALUES(";
  for (size_t i = 0; i < row.size(); ++i) cte += (i ? ", ?" : "?") + std::to_string(i + 1);
  cte += ")) SELECT 1 FROM \"_hearth_event\" AS r WHERE ";
  // Whether `rule` (skipped for superusers) and the client's `filter` both
  // let `who` see the event's record.
  auto passes = [&](const Realtime::Viewer& v, bool superuser,
                    const std::optional<std::string>& rule, const std::string& filter) -> bool {
    if (!superuser && !rule) return false;
    if ((superuser || rule->empty()) && filter.empty()) return true;
    std::vector<SqlValue> params = row;
    auto aliases = std::make_shared<int>(0);
    std::vector<std::string> where;
    if (!superuser && !rule->empty()) {
      FilterContext ctx = MakeContext(*schema, *c, "r", nullptr, &v.auth, Access::kRule, aliases);
      bool denied = false;
      auto sql = RuleSql(rule, ctx, &params, &denied);
      if (!sql.ok() || denied) return false;
      where.push_back(*sql);
    }
    if (!filter.empty()) {
      auto parsed = ParseFilter(filter);
      if (!parsed.ok()) return false;
      FilterContext ctx =
          MakeContext(*schema, *c, "r", nullptr, &v.auth, ClientAccess(superuser), aliases);
      auto sql = FilterToSql(**parsed, ctx, &params);
      if (!sql.ok()) return false;
      where.push_back(*sql);
    }
    std::string sql = cte;
    for (size_t i = 0; i < where.size(); ++i) sql += (i ? " AND " : "") + where[i];
    auto st = rd.Cached(sql);
    if (!st.ok()) return false;
    BindAll(*st, params);
    Status s = OkStatus();
    bool seen = st->Step(&s);
    st->Reset();
    return s.ok() && seen;
  };
  for (const auto& subscribed : viewers) {
    bool superuser = subscribed.key == Realtime::kSuperuserKey;
    Realtime::Viewer v = subscribed;
    if (v.auth.is_object()) {
      // Who it is now, not when it subscribed: read afresh. Gone, or signed
      // out everywhere by a new password (a new tokenKey): it sees nothing.
      const Collection* ac = nullptr;
      for (const auto& [n, col] : schema->collections)
        if (col.IsAuth() && col.id == v.auth.value("collectionId", "")) ac = &col;
      auto row = ac ? ReadAuthRow(rd, *ac, "\"id\"", v.auth.value("id", "")) : std::nullopt;
      if (!row || row->token_key != v.token_key) {
        out.stale.insert(v.key);
        continue;
      }
      v.auth = std::move(row->record);
    }
    json record = ev.record;
    HideFor(*c, Viewer{superuser, v.auth.is_object() ? v.auth.value("id", "") : ""}, &record);
    out.data[v.key] = json({{"action", ev.action}, {"record", record}})
                          .dump(-1, ' ', false, json::error_handler_t::replace);
    for (const auto& filter : v.filters) {
      bool list = passes(v, superuser, c->list_rule, filter);
      bool view = c->view_rule == c->list_rule ? list : passes(v, superuser, c->view_rule, filter);
      out.visibility[Realtime::VisibilityKey(v.key, filter)] = {list, view};
    }
  }
  return out;
}

// A new record as it was just stored, from the values written (what RowJson
// would read back), so a create with no rule to check needs no SELECT.
json RecordFromValues(const Collection& c, const std::string& id, const std::string& now,
                      const std::vector<std::pair<std::string, SqlValue>>& vals) {
  json r = {{"collectionId", c.id},
            {"collectionName", c.name},
            {"id", id},
            {"created", now},
            {"updated", now}};
  for (const auto& f : c.fields) {
    const SqlValue* v = nullptr;
    for (const auto& [k, val] : vals)
      if (k == f.name) v = &val;
    if (f.Multi()) {
      json arr = v && v->index() == 3 ? json::parse(std::get<std::string>(*v), nullptr, false)
                                      : json::array();
      r[f.name] = arr.is_array() ? arr : json::array();
      continue;
    }
    switch (f.type) {
      case FieldType::kNumber:
        if (!v || v->index() == 0)
          r[f.name] = 0;
        else if (v->index() == 1)
          r[f.name] = std::get<int64_t>(*v);
        else {
          double d = std::get<double>(*v);  // NUMERIC stores a whole double as an integer
          if (d == std::floor(d) && std::fabs(d) < 9e15)
            r[f.name] = static_cast<int64_t>(d);
          else
            r[f.name] = d;
        }
        break;
      case FieldType::kBool:
        r[f.name] = v && v->index() == 1 && std::get<int64_t>(*v) != 0;
        break;
      case FieldType::kJson:
        if (!v || v->index() != 3)
          r[f.name] = nullptr;
        else {
          json parsed = json::parse(std::get<std::string>(*v), nullptr, false);
          r[f.name] = parsed.is_discarded() ? json(nullptr) : parsed;
        }
        break;
      default:
        r[f.name] = v && v->index() == 3 ? std::get<std::string>(*v) : std::string();
        break;
    }
  }
  return r;
}

json RecordFromRow(const Collection& c,
                   const std::vector<std::pair<std::string, SqlValue>>& columns) {
  auto get = [&](std::string_view name) -> SqlValue {
    for (const auto& [k, v] : columns)
      if (k == name) return v;
    return nullptr;
  };
  auto text = [&](std::string_view name) {
    SqlValue v = get(name);
    return v.index() == 3 ? std::get<std::string>(v) : std::string();
  };
  auto flag = [&](std::string_view name) {
    SqlValue v = get(name);
    return v.index() == 1 && std::get<int64_t>(v) != 0;
  };
  json r = RecordFromValues(c, text("id"), "", columns);
  r["created"] = text("created");
  r["updated"] = text("updated");
  if (c.IsAuth()) {
    r["email"] = text("email");
    r["emailVisibility"] = flag("emailVisibility");
    r["verified"] = flag("verified");
  }
  return r;
}

// How filter paths become SQL for collection `c` under table alias `alias`:
// its own columns, and through single relations the target's ("author.name").
//
// What a path may read depends on who wrote the filter (see Access):
//  * a rule (the app's own text, and superusers' filters) reads everything;
//  * a client's filter or sort reads only what that client may see: an auth
//    collection's email only where it is visible to them (else it is NULL),
//    and each step through a relation only into records the target's view
//    rule lets them see (a target only superusers may view refuses the path).
// Otherwise a filter is an oracle: `email >= 'a'` recovers a hidden address
// one character at a time, `secret.value = 'x'` reads a hidden record.
FilterContext MakeContext(const Schema& schema, const Collection& c, const std::string& alias,
                          const json* body, const json* auth, Access access,
                          std::shared_ptr<int> aliases) {
  FilterContext ctx;
  ctx.now = NowDate();
  if (!aliases) aliases = std::make_shared<int>(0);
  std::string auth_id = auth && auth->is_object() ? auth->value("id", "") : "";
  ctx.field = [&schema, &c, alias, access, aliases, auth_id, auth](
                  std::string_view path, bool* multi,
                  std::vector<SqlValue>* params) -> Result<std::string> {
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
        std::string column = expr_alias + "." + QuoteIdent(head);
        if (head == "email" && access == Access::kClient) {
          // As RowJson shows it: to everyone when emailVisibility is on, and
          // to the record itself.
          params->push_back(auth_id);
          column = "(CASE WHEN " + expr_alias + ".\"emailVisibility\" OR " + expr_alias +
                   ".\"id\" = " + Placeholder(*params) + " THEN " + column + " END)";
        }
        return prefix + column + suffix;
      }
      const Field* f = col->Find(head);
      if (!f) return Error{"filter: unknown field \"" + std::string(head) + "\" in " + col->name};
      if (last) {
        *multi = f->Multi();
        return prefix + expr_alias + "." + QuoteIdent(f->name) + suffix;
      }
      if (f->type != FieldType::kRelation || f->Multi())
        return Error{"filter: \"" + std::string(head) +
                     "\" is not a single relation, so it has no fields"};
      if (++depth > 4) return Error{"filter: relation paths go at most 4 deep"};
      const Collection* target = schema.Find(f->collection);
      if (!target) return Error{"filter: no collection " + f->collection};
      // Each step joins a table (and, for a client, its view rule): a
      // statement may make at most 16, whatever its paths.
      if (*aliases >= 16) return Error{"filter: more than 16 relation steps in one request"};
      std::string next = "j" + std::to_string(++*aliases);  // unique in the whole statement
      std::string where = next + ".\"id\" = " + expr_alias + "." + QuoteIdent(f->name);
      if (access == Access::kClient) {
        if (!target->view_rule)
          return Error{"filter: only superusers may filter by \"" + std::string(head) + "\" (" +
                       target->name + " is not viewable)"};
        if (!target->view_rule->empty()) {
          // The target's rule is the app's: it reads everything of the target.
          FilterContext rule_ctx =
              MakeContext(schema, *target, next, nullptr, auth, Access::kRule, aliases);
          bool denied = false;
          auto rule = RuleSql(target->view_rule, rule_ctx, params, &denied);
          if (!rule.ok()) return rule.error();
          where += " AND " + *rule;
        }
      }
      prefix += "(SELECT ";
      suffix =
          " FROM " + QuoteIdent(target->name) + " AS " + next + " WHERE " + where + ")" + suffix;
      expr_alias = next;
      col = target;
      path.remove_prefix(dot + 1);
    }
  };
  ctx.auth = [auth](std::string_view name) -> SqlValue {
    // A guest's @request.auth.* are empty strings, as in PocketBase: a rule
    // `owner = @request.auth.id` must not match a NULL owner for a guest.
    if (!auth || !auth->is_object() || !auth->contains(name)) return std::string();
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

// One record by id, if the rule (for a non-superuser) lets this request see it.
Result<std::optional<json>> FetchOne(const Ctx& x, store::Connection& c, std::string_view id,
                                     const std::optional<std::string>& rule, const json* body,
                                     bool* denied) {
  std::vector<SqlValue> params{std::string(id)};
  FilterContext ctx = MakeContext(*x.schema, *x.c, "r", body, &x.auth, Access::kRule);
  std::string sql = "SELECT " + SelectColumns(*x.c, "r") + " FROM " + QuoteIdent(x.c->name) +
                    " AS r WHERE r.\"id\" = ?1";
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

}  // namespace hearth::data::records

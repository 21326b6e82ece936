// What the record endpoints share: JSON answers, rows to JSON, filters and
// rules to SQL, reading one record (declared in records_internal.h).
#include <nlohmann/json.hpp>

#include <cmath>

#include "base/strings.h"
#include "data/auth.h"
#include "data/records_internal.h"
#include "http/multipart.h"

namespace hearth::data::records {

void PbJson(Response& res, int status, const json& body) {
  // Text from requests may be in it: invalid UTF-8 is replaced, never thrown on.
  res.SetText(status, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  res.SetHeader("Cache-Control", "no-store");
}
Result<json> RequestJson(const Request& req, std::string_view raw, std::vector<Upload>* uploads) {
  std::string_view ct = req.Header("Content-Type");
  if (auto boundary = MultipartBoundary(ct); boundary.ok()) {
    auto parts = ParseMultipart(raw, *boundary);
    if (!parts.ok()) return Error{"The body is not valid multipart/form-data: " + parts.error().message + "."};
    json body = json::object();
    for (const auto& p : *parts) {
      if (!p.filename.empty()) {
        if (!uploads) return Error{"Files cannot be uploaded in this request: send them with a single create or update."};
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
        json payload = json::parse(p.data, nullptr, false);
        if (payload.is_discarded() || !payload.is_object()) return Error{"@jsonPayload must be a JSON object."};
        for (auto it = payload.begin(); it != payload.end(); ++it) body[it.key()] = it.value();
      } else {
        body[p.name] = std::string(p.data);
      }
    }
    return body;
  }
  if (raw.empty()) return json(json::object());
  json body = json::parse(raw, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Error{"The body must be a JSON object."};
  return body;
}

Result<json> RequestJson(const Request& req) { return RequestJson(req, req.body, nullptr); }

void PbError(Response& res, int status, const std::string& message, json data) {
  PbJson(res, status, {{"status", status}, {"message", message}, {"data", data}});
}
const char* const kNotFound = "The requested resource wasn't found.";
const char* const kSuperusersOnly = "Only superusers can perform this action.";

void BindValue(store::Statement& st, int i, const SqlValue& v) {
  switch (v.index()) {
    case 0: st.BindNull(i); break;
    case 1: st.Bind(i, std::get<int64_t>(v)); break;
    case 2: st.Bind(i, std::get<double>(v)); break;
    default: st.Bind(i, std::string_view(std::get<std::string>(v))); break;
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
    cols += ", " + alias + ".\"email\", " + alias + ".\"emailVisibility\", " + alias + ".\"verified\"";
  for (const auto& f : c.fields) cols += ", " + alias + "." + QuoteIdent(f.name);
  return cols;
}


json RowJson(const Collection& c, const store::Statement& st, const Viewer& v) {
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
                          const json* auth) {
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

}  // namespace hearth::data::records

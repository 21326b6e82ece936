// A site's app API at PocketBase's paths and in its shapes (see api.h).
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/login_throttle.h"
#include "base/strings.h"
#include "data/api.h"
#include "data/records_internal.h"
#include "http/multipart.h"

namespace hearth::data {
namespace records {

using nlohmann::json;

constexpr int kDefaultPerPage = 30;
constexpr int kMaxPerPage = 1000;

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

constexpr size_t kMaxExpandFields = 16;
constexpr size_t kMaxExpandLookups = 5000;

// expand=rel1,rel2: the related records (one level), under "expand", each
// only if the target's view rule lets this request see it. Each field is
// expanded once however often it is named, and each related record is read
// once however many items point at it; past kMaxExpandLookups distinct
// records in one answer the request is refused (a worker is not a batch job).
Status Expand(store::Connection& rd, const Schema& schema, const Collection& c,
              std::string_view expand, bool superuser, const json* auth, json* items) {
  Viewer viewer{superuser, auth && auth->is_object() ? auth->value("id", "") : ""};
  std::vector<std::string> names;
  while (!expand.empty()) {
    size_t comma = expand.find(',');
    std::string name(TrimOws(expand.substr(0, comma)));
    expand.remove_prefix(comma == std::string_view::npos ? expand.size() : comma + 1);
    if (name.empty() || std::find(names.begin(), names.end(), name) != names.end()) continue;
    if (names.size() == kMaxExpandFields) return Error{"expand names at most 16 fields"};
    names.push_back(std::move(name));
  }
  size_t lookups = 0;
  for (const std::string& name : names) {
    const Field* f = c.Find(name);
    if (!f || f->type != FieldType::kRelation)
      return Error{"cannot expand \"" + name + "\": not a relation field"};
    const Collection* target = schema.Find(f->collection);
    if (!target) continue;
    // ?1 is the related record's id, bound per record; the rule's values follow.
    std::vector<SqlValue> params{std::string()};
    FilterContext ctx = MakeContext(schema, *target, "r", nullptr, auth, Access::kRule);
    bool denied = false;
    std::string rule;
    if (!superuser) {
      auto r = RuleSql(target->view_rule, ctx, &params, &denied);
      if (!r.ok()) return r.error();
      if (denied) continue;
      rule = *r;
    }
    std::string sql = "SELECT " + SelectColumns(*target, "r") + " FROM " +
                      QuoteIdent(target->name) + " AS r WHERE r.\"id\" = ?1" +
                      (rule.empty() ? "" : " AND " + rule);
    auto st = rd.Cached(sql);
    if (!st.ok()) return st.error();
    std::map<std::string, json> seen;  // id -> the record, or null when hidden or gone
    for (auto& item : *items) {
      std::vector<std::string> ids;
      if (item[name].is_array()) {
        for (const auto& id : item[name])
          if (id.is_string()) ids.push_back(id.get<std::string>());
      } else if (item[name].is_string() && !item[name].get<std::string>().empty()) {
        ids.push_back(item[name].get<std::string>());
      }
      json found = json::array();
      for (const auto& id : ids) {
        auto it = seen.find(id);
        if (it == seen.end()) {
          if (++lookups > kMaxExpandLookups)
            return Error{"expand would read more than " + std::to_string(kMaxExpandLookups) +
                         " records; ask for fewer"};
          st->Reset();
          params[0] = id;
          BindAll(*st, params);
          Status s = OkStatus();
          json row = st->Step(&s) ? RowJson(*target, *st, viewer) : json(nullptr);
          if (!s.ok()) return s;
          it = seen.emplace(id, std::move(row)).first;
        }
        if (!it->second.is_null()) found.push_back(it->second);
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
  // The rule reads what the app's rules may; the client's filter and sort
  // only what this client may see (MakeContext).
  auto aliases = std::make_shared<int>(0);
  FilterContext rule_ctx =
      MakeContext(*x.schema, *x.c, "r", nullptr, &x.auth, Access::kRule, aliases);
  FilterContext ctx =
      MakeContext(*x.schema, *x.c, "r", nullptr, &x.auth, ClientAccess(x.superuser), aliases);
  std::vector<std::string> where;
  if (!x.superuser) {
    bool denied = false;
    auto r = RuleSql(x.c->list_rule, rule_ctx, &params, &denied);
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
  // The count reads only the WHERE's values; the sort may add its own.
  const size_t where_params = params.size();
  uint64_t page = 1, per_page = kDefaultPerPage;
  if (std::string_view p = q.Get("page");
      !p.empty() && (!ParseUint(p, &page) || page < 1 || page > 1000000000))
    return PbError(res, 400, "page must be a whole number from 1");
  if (std::string_view p = q.Get("perPage");
      !p.empty() && (!ParseUint(p, &per_page) || per_page < 1))
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
        auto e = ctx.field(term, &multi, &params);
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
    if (!st.ok())
      return PbError(res, 400,
                     "Something went wrong while processing your request: " + st.error().message);
    BindAll(*st, std::vector<SqlValue>(params.begin(), params.begin() + where_params));
    Status s = OkStatus();
    total = st->Step(&s) ? st->Int(0) : 0;
    if (!s.ok())
      return PbError(res, 400,
                     "Something went wrong while processing your request: " + s.error().message);
  }
  auto st = rd.Cached("SELECT " + SelectColumns(*x.c, "r") + from + where_sql + " ORDER BY " +
                      order + " LIMIT ?" + std::to_string(params.size() + 1) + " OFFSET ?" +
                      std::to_string(params.size() + 2));
  if (!st.ok())
    return PbError(res, 400,
                   "Something went wrong while processing your request: " + st.error().message);
  BindAll(*st, params);
  st->Bind(static_cast<int>(params.size()) + 1, static_cast<int64_t>(per_page));
  st->Bind(static_cast<int>(params.size()) + 2, static_cast<int64_t>((page - 1) * per_page));
  json items = json::array();
  Status s = OkStatus();
  while (st->Step(&s)) items.push_back(RowJson(*x.c, *st, x.viewer()));
  st->Reset();
  if (!s.ok())
    return PbError(res, 400,
                   "Something went wrong while processing your request: " + s.error().message);
  if (std::string_view e = q.Get("expand"); !e.empty())
    if (Status ex = Expand(rd, *x.schema, *x.c, e, x.superuser, &x.auth, &items); !ex.ok())
      return PbError(res, 400, ex.error().message);
  if (std::string_view f = q.Get("fields"); !f.empty())
    for (auto& item : items) item = PickFields(item, f);
  int64_t total_pages =
      skip_total ? -1
                 : (total + static_cast<int64_t>(per_page) - 1) / static_cast<int64_t>(per_page);
  PbJson(res, 200,
         {{"page", page},
          {"perPage", per_page},
          {"totalItems", total},
          {"totalPages", total_pages},
          {"items", items}});
  (void)req;
}

}  // namespace records

using namespace records;

bool ServeAppApi(Apps* apps, const DataOptions& options, int reader, const std::string& site,
                 Request& req, Response& res) {
  auto got = apps->Get(site, false);
  if (!got.ok()) {
    PbError(res, 500, "the app database cannot be opened");
    return true;
  }
  if (!*got) return false;
  auto seg = Segments(req.path);  // "api", ...
  Method m = req.method;
  // A JSON body is bounded well below max-body-size (which bounds files):
  // parsed JSON costs many times its text. Only a record's create or update
  // takes files (multipart; its @jsonPayload part is bounded by RequestJson):
  // every other body is bounded whatever its Content-Type says.
  bool takes_files = seg.size() >= 4 && seg[1] == "collections" && seg[3] == "records" &&
                     MultipartBoundary(req.Header("Content-Type")).ok();
  if (req.body.size() > options.max_json_bytes && !takes_files) {
    PbError(res, 413,
            "The JSON body is larger than " + std::to_string(options.max_json_bytes) + " bytes.");
    return true;
  }
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
      res.stream_endless = true;  // a graceful stop ends it; the SDK reconnects
      // A superuser's token is checked again (at most once a second) before
      // its events are sent: a revoked token ends the stream, and the SDK
      // reconnects as whoever its token now makes it.
      auto checked_at = std::make_shared<int64_t>(0);
      res.stream = [client, guard, checked_at, opts = &options, reader](std::string& out) {
        std::string authorization;
        {
          std::lock_guard<std::mutex> lock(client->mu);
          if (client->dropped) return false;
          if (client->pending.empty()) return true;
          if (client->superuser) authorization = client->authorization;
        }
        int64_t now = static_cast<int64_t>(time(nullptr));
        if (!authorization.empty() && now != *checked_at) {
          *checked_at = now;
          if (!opts->is_superuser || !opts->is_superuser(reader, authorization)) {
            std::lock_guard<std::mutex> lock(client->mu);
            client->dropped = true;
            client->pending.clear();
            return false;
          }
        }
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
    auto parsed = ParseJson(req.body);
    json body = parsed.ok() ? std::move(parsed).value() : json();
    if (!body.is_object() || !body.contains("clientId") || !body["clientId"].is_string()) {
      PbError(res, 400, "Missing or invalid client id.");
      return true;
    }
    std::vector<std::string> topics;
    if (body.contains("subscriptions") && !body["subscriptions"].is_null()) {
      if (!body["subscriptions"].is_array() ||
          body["subscriptions"].size() > Realtime::kMaxTopics) {
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
    int status = 0;
    Realtime::Who subscriber{su, who.auth, who.auth_token_key, ClientNetwork(req.ClientIp(), 48),
                             std::string(auth)};
    if (std::string why = rt.Subscribe(body["clientId"].get<std::string>(), std::move(topics),
                                       std::move(subscriber), &status);
        !why.empty()) {
      PbError(res, status, why);
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
  if (seg.size() >= 2 && seg[1] == "files") {
    Ctx x{apps, &options, reader, *got, (*got)->schema(), nullptr, false, nullptr, ""};
    std::string_view auth = req.Header("Authorization");
    x.superuser = !auth.empty() && options.is_superuser && options.is_superuser(reader, auth);
    if (!x.superuser && !auth.empty()) ResolveAuth(x, x.app->store().Reader(reader), auth);
    ServeFiles(x, seg, req, res);
    return true;
  }
  if (seg.size() < 4 || seg[1] != "collections" || seg.size() > 5 ||
      (seg[3] != "records" && seg[3] != "schema" && seg[3] != "auth-with-password" &&
       seg[3] != "auth-refresh")) {
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
      PbJson(
          res, 200,
          {{"token", IssueToken(*x.app, *x.c, x.auth["id"].get<std::string>(), x.auth_token_key)},
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
    if (m == Method::kGet || m == Method::kHead)
      List(x, req, res, q);
    else if (m == Method::kPost)
      CreateOrUpdate(x, req, res, {});
    else
      PbError(res, 405, "Use GET or POST.");
    return true;
  }
  std::string_view id = seg[4];
  if (m == Method::kGet || m == Method::kHead) {
    bool denied = false;
    auto one = FetchOne(x, x.app->store().Reader(reader), id, x.c->view_rule, nullptr, &denied);
    if (denied)
      PbError(res, 403, kSuperusersOnly);
    else if (!one.ok())
      PbError(res, 400,
              "Something went wrong while processing your request: " + one.error().message);
    else if (!*one)
      PbError(res, 404, kNotFound);
    else {
      json items = json::array({**one});
      if (std::string_view e = q.Get("expand"); !e.empty())
        if (Status ex = Expand(x.app->store().Reader(reader), *x.schema, *x.c, e, x.superuser,
                               &x.auth, &items);
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

// The control API for sites: JSON in, JSON out, under /_hearth/api/.
#include <nlohmann/json.hpp>

#include "api/routes.h"
#include "base/json.h"
#include "base/strings.h"
#include "sites/api_common.h"
#include "sites/compress.h"
#include "sites/manifest.h"
#include "sites/sites.h"

namespace hearth::sites {
namespace {

using nlohmann::json;

Result<int64_t> SiteId(store::Connection& c, const std::string& name, int64_t* live = nullptr) {
  store::Statement st = c.Named("sites.by_name");
  st.Bind(1, name);
  Status s = OkStatus();
  if (!st.Step(&s)) {
    if (!s.ok()) return s.error();
    return Error{"no site named " + name};
  }
  if (live) *live = st.IsNull(1) ? 0 : st.Int(1);
  return st.Int(0);
}

Status CreateSite(store::Connection& c, const std::string& name,
                  const std::vector<std::string>& hosts, Outcome* o, int64_t* id_out) {
  for (const auto& h : hosts) {
    store::Statement taken = c.Named("hosts.lookup");
    taken.Bind(1, h);
    Status s = OkStatus();
    if (taken.Step(&s)) return Refuse(o, 409, "host " + h + " already belongs to a site");
  }
  if (Status st = c.Named("sites.insert").Bind(1, name).Run(); !st.ok()) return st;
  int64_t id = c.LastInsertRowid();
  for (const auto& h : hosts)
    if (Status st = c.Named("hosts.insert").Bind(1, h).Bind(2, id).Run(); !st.ok()) return st;
  if (id_out) *id_out = id;
  return OkStatus();
}

json ListSites(store::Connection& c) {
  json out = json::array();
  store::Statement st = c.Named("sites.list");
  Status s = OkStatus();
  while (st.Step(&s)) {
    json hosts = json::array();
    std::string_view hs = st.Text(4);
    while (!hs.empty()) {
      size_t sp = hs.find(' ');
      hosts.push_back(std::string(hs.substr(0, sp)));
      if (sp == std::string_view::npos) break;
      hs.remove_prefix(sp + 1);
    }
    out.push_back(
        {{"name", std::string(st.Text(1))},
         {"hosts", hosts},
         {"live_version", st.IsNull(2) ? json(nullptr) : json(st.Int(2))},
         {"default", st.Int(5) != 0},
         {"spa", st.Int(6) != 0},
         {"hsts", st.Int(7) != 0},
         {"proxy", st.IsNull(8) ? json(nullptr) : ParseJson(st.Text(8)).value_or(json(nullptr))},
         {"rate_limit", st.Int(9)},
         {"rate_burst", st.Int(10)},
         {"created_at", st.Int(3)}});
  }
  return out;
}

json ListVersions(store::Connection& c, int64_t site_id, int64_t live) {
  json out = json::array();
  store::Statement st = c.Named("versions.list");
  st.Bind(1, site_id);
  Status s = OkStatus();
  while (st.Step(&s)) {
    out.push_back({{"version", st.Int(0)},
                   {"message", std::string(st.Text(2))},
                   {"files", st.Int(3)},
                   {"bytes", st.Int(4)},
                   {"created_at", st.Int(5)},
                   {"published_at", st.IsNull(6) ? json(nullptr) : json(st.Int(6))},
                   {"live", st.Int(0) == live}});
  }
  return out;
}

// Deletes the blobs collected in temp.gc that no version references anymore.
Status SweepBlobs(store::Connection& c) {
  if (Status st = c.Named("gc.sweep_variants").Run(); !st.ok()) return st;
  if (Status st = c.Named("gc.sweep").Run(); !st.ok()) return st;
  return c.Named("gc.reset").Run();
}

// Keeps the newest `keep` published versions of a site (the live one always),
// deletes the rest, expired previews and deploys abandoned for a day, and the
// blobs only they used.
Status DropOldVersions(store::Connection& c, int64_t site_id, int64_t live, int64_t keep,
                       int64_t* removed) {
  std::vector<int64_t> expired;
  {
    store::Statement st = c.Named("versions.expired");
    st.Bind(1, site_id).Bind(2, live).Bind(3, keep - 1);
    Status s = OkStatus();
    while (st.Step(&s)) expired.push_back(st.Int(0));
    if (!s.ok()) return s;
  }
  {
    store::Statement st = c.Named("versions.expired_previews");
    st.Bind(1, site_id);
    Status s = OkStatus();
    while (st.Step(&s)) expired.push_back(st.Int(0));
    if (!s.ok()) return s;
  }
  for (int64_t id : expired) {
    if (Status st = c.Named("gc.collect_version").Bind(1, id).Run(); !st.ok()) return st;
    if (Status st = c.Named("versions.delete").Bind(1, id).Run(); !st.ok()) return st;
  }
  *removed = static_cast<int64_t>(expired.size());
  return expired.empty() ? OkStatus() : SweepBlobs(c);
}

// Optional booleans "spa", "default" and "hsts" of a request body: -1 absent,
// 0, 1; and "proxy": an object (checked, stored normalized) or null (none).
struct Flags {
  int spa = -1, def = -1, hsts = -1;
  bool set_proxy = false;
  std::optional<std::string> proxy;  // JSON text; nullopt: none
  std::optional<int64_t> rate_limit, rate_burst;
};
bool ReadFlags(const ProxyCheck& check_proxy, const json& body, Flags* f, std::string* why) {
  *f = Flags{};
  for (auto [key, out] :
       {std::pair<const char*, std::optional<int64_t>*>{"rate_limit", &f->rate_limit},
        {"rate_burst", &f->rate_burst}}) {
    if (!body.contains(key)) continue;
    if (!body[key].is_number_integer() || body[key].get<int64_t>() < 0 ||
        body[key].get<int64_t>() > 100000000) {
      *why = std::string(key) + " must be a whole number from 0 (none) to 100000000";
      return false;
    }
    *out = body[key].get<int64_t>();
  }
  if (body.contains("proxy")) {
    f->set_proxy = true;
    if (!body["proxy"].is_null()) {
      auto config = check_proxy ? check_proxy(body["proxy"])
                                : Result<std::string>(Error{"this server does not proxy"});
      if (!config.ok()) {
        *why = "proxy: " + config.error().message;
        return false;
      }
      f->proxy = std::move(config).value();
    }
  }
  for (auto [key, out] :
       {std::pair<const char*, int*>{"spa", &f->spa}, {"default", &f->def}, {"hsts", &f->hsts}}) {
    if (!body.contains(key)) continue;
    if (!body[key].is_boolean()) {
      *why = std::string(key) + " must be true or false";
      return false;
    }
    *out = body[key].get<bool>() ? 1 : 0;
  }
  return true;
}

Status ApplyFlags(store::Connection& c, int64_t id, const Flags& f) {
  if (f.rate_limit || f.rate_burst) {
    store::Statement st = c.Named("sites.set_rate");
    st.Bind(1, id);
    // Unset: NULL, which keeps the stored value (every parameter is bound: store/sqlite.h).
    if (f.rate_limit)
      st.Bind(2, *f.rate_limit);
    else
      st.BindNull(2);
    if (f.rate_burst)
      st.Bind(3, *f.rate_burst);
    else
      st.BindNull(3);
    if (Status s = st.Run(); !s.ok()) return s;
  }
  if (f.set_proxy) {
    store::Statement st = c.Named("sites.set_proxy");
    st.Bind(1, id);
    if (f.proxy)
      st.Bind(2, *f.proxy);
    else
      st.BindNull(2);
    if (Status s = st.Run(); !s.ok()) return s;
  }
  if (f.hsts >= 0)
    if (Status s =
            c.Named("sites.set_hsts").Bind(1, id).Bind(2, static_cast<int64_t>(f.hsts)).Run();
        !s.ok())
      return s;
  if (f.spa < 0 && f.def < 0) return OkStatus();
  store::Statement st = c.Named("sites.set_flags");
  st.Bind(1, id);
  if (f.spa >= 0)
    st.Bind(2, static_cast<int64_t>(f.spa));
  else
    st.BindNull(2);
  if (f.def >= 0)
    st.Bind(3, static_cast<int64_t>(f.def));
  else
    st.BindNull(3);
  if (Status s = st.Run(); !s.ok()) return s;
  if (f.def == 1) return c.Named("sites.clear_default").Bind(1, id).Run();
  return OkStatus();
}

}  // namespace

Status DeclareSite(SitesShared* shared, const std::string& name,
                   const std::vector<std::string>& hosts, const std::string& proxy_json,
                   int64_t rate_limit, int64_t rate_burst) {
  Status st = shared->store->Write([&](store::Connection& c) -> Status {
    Outcome o;
    auto id = SiteId(c, name);
    int64_t site_id = 0;
    std::vector<std::string> all{name};
    all.insert(all.end(), hosts.begin(), hosts.end());
    if (!id.ok()) {
      if (Status s = CreateSite(c, name, all, &o, &site_id); !s.ok()) return s;
      if (o.status >= 400)
        return Error{o.body.value("error", std::string("cannot create the site"))};
    } else {
      site_id = *id;
      for (const auto& h : hosts) {  // hosts the file adds; one another site has is an error
        store::Statement taken = c.Named("hosts.lookup");
        taken.Bind(1, h);
        Status s = OkStatus();
        if (taken.Step(&s)) {
          if (taken.Int(0) != site_id)
            return Error{"host " + h + " already belongs to another site"};
          continue;
        }
        if (Status s2 = c.Named("hosts.insert").Bind(1, h).Bind(2, site_id).Run(); !s2.ok())
          return s2;
      }
    }
    store::Statement p = c.Named("sites.set_proxy");
    p.Bind(1, site_id);
    if (!proxy_json.empty())
      p.Bind(2, proxy_json);
    else
      p.BindNull(2);
    if (Status s = p.Run(); !s.ok()) return s;
    return c.Named("sites.set_rate").Bind(1, site_id).Bind(2, rate_limit).Bind(3, rate_burst).Run();
  });
  if (!st.ok()) return st;
  RoutingChanged(shared);
  return OkStatus();
}

namespace {

// Each endpoint gets what it uses: the request body already parsed as JSON
// (an object; {} when empty), names already checked by the router.

void AddSite(SitesShared* shared, Response& res, const json& body) {
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string())
    return Fail(res, 400, "name (a host name) is required");
  auto name = NormalizeHost(body["name"].get<std::string>());
  if (!name.ok()) return Fail(res, 400, name.error().message);
  std::vector<std::string> hosts{*name};
  if (body.contains("hosts")) {
    if (!body["hosts"].is_array()) return Fail(res, 400, "hosts must be an array of host names");
    for (const auto& h : body["hosts"]) {
      if (!h.is_string()) return Fail(res, 400, "hosts must be an array of host names");
      auto n = NormalizeHost(h.get<std::string>());
      if (!n.ok()) return Fail(res, 400, n.error().message);
      if (*n != *name) hosts.push_back(*n);
    }
  }
  std::string site = *name;
  Flags flags;
  std::string why;
  if (!ReadFlags(shared->check_proxy, body, &flags, &why)) return Fail(res, 400, why);
  return DeferWrite(
      shared, res,
      [site, hosts, flags](store::Connection& c, Outcome* o) {
        if (SiteId(c, site).ok()) return Refuse(o, 409, "site " + site + " already exists");
        int64_t id = 0;
        if (Status st = CreateSite(c, site, hosts, o, &id); !st.ok()) return st;
        if (Status st = ApplyFlags(c, id, flags); !st.ok()) return st;
        o->status = 201;
        o->body = {{"name", site},
                   {"hosts", hosts},
                   {"live_version", nullptr},
                   {"spa", flags.spa == 1},
                   {"default", flags.def == 1},
                   {"hsts", flags.hsts == 1},
                   {"proxy",
                    flags.proxy ? ParseJson(*flags.proxy).value_or(json(nullptr)) : json(nullptr)},
                   {"rate_limit", flags.rate_limit.value_or(0)},
                   {"rate_burst", flags.rate_burst.value_or(0)}};
        return OkStatus();
      },
      true);
}

void PatchSite(SitesShared* shared, Response& res, const std::string& site, const json& body) {
  Flags flags;
  std::string why;
  if (!body.is_object() || !ReadFlags(shared->check_proxy, body, &flags, &why))
    return Fail(res, 400,
                why.empty() ? "expected {\"spa\": bool, \"default\": bool, \"hsts\": bool, "
                              "\"proxy\": {...} or null}"
                            : why);
  return DeferWrite(
      shared, res,
      [site, flags](store::Connection& c, Outcome* o) {
        auto id = SiteId(c, site);
        if (!id.ok()) return Refuse(o, 404, id.error().message);
        if (Status st = ApplyFlags(c, *id, flags); !st.ok()) return st;
        o->body = {{"name", site}, {"updated", true}};
        return OkStatus();
      },
      true);
}

void DeleteSite(SitesShared* shared, Response& res, const std::string& site) {
  return DeferWrite(
      shared, res,
      [site](store::Connection& c, Outcome* o) {
        auto id = SiteId(c, site);
        if (!id.ok()) return Refuse(o, 404, id.error().message);
        if (Status st = c.Named("gc.collect_site").Bind(1, *id).Run(); !st.ok()) return st;
        if (Status st = c.Named("sites.delete").Bind(1, *id).Run(); !st.ok()) return st;
        if (Status st = SweepBlobs(c); !st.ok()) return st;
        o->body = {{"deleted", site}};
        return OkStatus();
      },
      true);
}

void GetVersions(store::Connection& rd, Response& res, const std::string& site) {
  int64_t live = 0;
  auto id = SiteId(rd, site, &live);
  if (!id.ok()) return Fail(res, 404, id.error().message);
  return Json(res, 200,
              {{"site", site},
               {"live_version", live ? json(live) : json(nullptr)},
               {"versions", ListVersions(rd, *id, live)}});
}

void CreateDeploy(SitesShared* shared, Response& res, const std::string& site, const json& body) {
  auto manifest = ParseManifest(body, shared->max_blob_size, shared->max_files);
  if (!manifest.ok()) return Fail(res, 400, manifest.error().message);
  auto mf = std::make_shared<Manifest>(std::move(manifest).value());
  return DeferWrite(
      shared, res,
      [site, mf](store::Connection& c, Outcome* o) {
        int64_t site_id;
        auto id = SiteId(c, site);
        bool created = false;
        if (id.ok()) {
          site_id = *id;
        } else {
          // Deploying to a new host name creates its site: one command to go live.
          if (Status st = CreateSite(c, site, {site}, o, &site_id); !st.ok()) return st;
          created = true;
        }
        uint64_t bytes = 0;
        for (const auto& f : mf->files) bytes += f.size;
        if (Status st = c.Named("versions.insert")
                            .Bind(1, site_id)
                            .Bind(2, mf->message)
                            .Bind(3, static_cast<int64_t>(mf->files.size()))
                            .Bind(4, static_cast<int64_t>(bytes))
                            .Run();
            !st.ok())
          return st;
        int64_t version = c.LastInsertRowid();
        for (const auto& f : mf->files) {
          if (Status st = c.Named("files.insert")
                              .Bind(1, version)
                              .Bind(2, f.path)
                              .Bind(3, f.hash)
                              .Bind(4, static_cast<int64_t>(f.size))
                              .Run();
              !st.ok())
            return st;
        }
        json missing = json::array();
        uint64_t missing_bytes = 0;
        std::unordered_map<std::string, uint64_t> sizes;
        for (const auto& f : mf->files) sizes[f.hash] = f.size;
        store::Statement st = c.Named("versions.missing");
        st.Bind(1, version);
        Status s = OkStatus();
        while (st.Step(&s)) {
          std::string h(st.Text(0));
          missing_bytes += sizes[h];
          missing.push_back(h);
        }
        if (!s.ok()) return s;
        o->status = 201;
        o->body = {{"version", version},
                   {"site", site},
                   {"site_created", created},
                   {"files", mf->files.size()},
                   {"bytes", bytes},
                   {"missing", missing},
                   {"missing_bytes", missing_bytes}};
        return OkStatus();
      },
      /*changes_routing=*/true);
}

void Rollback(SitesShared* shared, Response& res, const std::string& site, const json& body) {
  int64_t to = 0;
  if (body.contains("to")) {
    if (!body["to"].is_number_integer()) return Fail(res, 400, "to must be a version number");
    to = body["to"].get<int64_t>();
  }
  return DeferWrite(
      shared, res,
      [site, to](store::Connection& c, Outcome* o) {
        int64_t live = 0;
        auto id = SiteId(c, site, &live);
        if (!id.ok()) return Refuse(o, 404, id.error().message);
        int64_t target = to;
        if (target == 0) {
          // The newest published version before the live one.
          store::Statement st = c.Named("versions.list");
          st.Bind(1, *id);
          Status s = OkStatus();
          while (st.Step(&s)) {
            if (st.Int(0) < live) {
              target = st.Int(0);
              break;
            }
          }
          if (target == 0)
            return Refuse(o, 409, "site " + site + " has no earlier version to roll back to");
        } else {
          store::Statement st = c.Named("versions.get");
          st.Bind(1, target);
          Status s = OkStatus();
          if (!st.Step(&s) || st.Int(0) != *id || st.Text(1) == "pending")
            return Refuse(o, 404,
                          "site " + site + " has no published version " + std::to_string(target));
          // Making a preview live promotes it: it stops expiring.
          if (st.Text(1) == "preview")
            if (Status w = c.Named("versions.publish").Bind(1, target).Run(); !w.ok()) return w;
        }
        if (Status st = c.Named("sites.set_live").Bind(1, *id).Bind(2, target).Run(); !st.ok())
          return st;
        o->body = {{"site", site},
                   {"live_version", target},
                   {"previous_version", live ? json(live) : json(nullptr)}};
        return OkStatus();
      },
      true);
}

void Publish(SitesShared* shared, Response& res, std::string_view version_text, const json& body) {
  uint64_t v;
  if (!ParseUint(version_text, &v) || v == 0)
    return Fail(res, 400, "a version is a positive number");
  int64_t version = static_cast<int64_t>(v);
  int64_t keep = shared->keep_versions.load();
  bool preview = false;
  int64_t ttl = 24 * 3600;
  if (body.contains("preview")) {
    if (!body["preview"].is_boolean()) return Fail(res, 400, "preview must be true or false");
    preview = body["preview"].get<bool>();
  }
  if (body.contains("ttl_seconds")) {
    if (!body["ttl_seconds"].is_number_integer() || body["ttl_seconds"].get<int64_t>() < 1 ||
        body["ttl_seconds"].get<int64_t>() > 365 * 24 * 3600)
      return Fail(res, 400, "ttl_seconds must be a whole number of seconds, up to a year");
    ttl = body["ttl_seconds"].get<int64_t>();
  }
  return DeferWrite(
      shared, res,
      [version, keep, preview, ttl](store::Connection& c, Outcome* o) {
        store::Statement st = c.Named("versions.get");
        st.Bind(1, version);
        Status s = OkStatus();
        if (!st.Step(&s)) return Refuse(o, 404, "no deploy " + std::to_string(version));
        int64_t site_id = st.Int(0);
        if (st.Text(1) != "pending")
          return Refuse(o, 409, "deploy " + std::to_string(version) + " is already published");
        store::Statement miss = c.Named("versions.missing");
        miss.Bind(1, version);
        int missing = 0;
        while (miss.Step(&s)) ++missing;
        if (missing)
          return Refuse(o, 409,
                        std::to_string(missing) + " blob(s) of deploy " + std::to_string(version) +
                            " are not uploaded yet");
        if (preview) {
          // Reachable at its own host name; the live version is untouched.
          if (Status w = c.Named("versions.preview").Bind(1, version).Bind(2, ttl).Run(); !w.ok())
            return w;
          o->body = {{"version", version},
                     {"live", false},
                     {"preview", true},
                     {"expires_in_seconds", ttl}};
          return OkStatus();
        }
        if (Status w = c.Named("versions.publish").Bind(1, version).Run(); !w.ok()) return w;
        if (Status w = c.Named("sites.set_live").Bind(1, site_id).Bind(2, version).Run(); !w.ok())
          return w;
        int64_t removed = 0;
        if (Status w = DropOldVersions(c, site_id, version, keep, &removed); !w.ok()) return w;
        o->body = {{"version", version}, {"live", true}, {"versions_removed", removed}};
        return OkStatus();
      },
      true);
}

}  // namespace

bool SiteExists(SitesShared* shared, int reader, const std::string& name) {
  return SiteId(shared->store->Reader(reader), name).ok();
}

Status AddApiRoutes(api::RouteTable* table, SitesShared* shared) {
  using api::ApiCall;
  using api::BodyMode;
  using api::RouteClass;
  using K = api::ApiTarget::Kind;
  // A handler of sites/{name}/...: the name normalized first (400 if it is none).
  auto named = [shared](void (*serve)(SitesShared*, ApiCall&, const std::string&)) {
    return [shared, serve](ApiCall& call) {
      auto name = NormalizeHost(call.seg[1]);
      if (!name.ok()) return Fail(call.res, 400, name.error().message);
      serve(shared, call, *name);
    };
  };
  const api::RouteSpec routes[] = {
      {Method::kGet, "sites", K::kRead, BodyMode::kBuffered, RouteClass::kRead,
       [shared](ApiCall& call) {
         Json(call.res, 200, ListSites(shared->store->Reader(call.reader)));
       }},
      {Method::kPost, "sites", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       [shared](ApiCall& call) { AddSite(shared, call.res, call.body); }},
      {Method::kPatch, "sites/*", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       named([](SitesShared* sh, ApiCall& call, const std::string& name) {
         PatchSite(sh, call.res, name, call.body);
       })},
      {Method::kDelete, "sites/*", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       named([](SitesShared* sh, ApiCall& call, const std::string& name) {
         DeleteSite(sh, call.res, name);
       })},
      {Method::kGet, "sites/*/versions", K::kSiteVersions, BodyMode::kBuffered, RouteClass::kRead,
       named([](SitesShared* sh, ApiCall& call, const std::string& name) {
         GetVersions(sh->store->Reader(call.reader), call.res, name);
       })},
      {Method::kPost, "sites/*/deploys", K::kSiteDeploy, BodyMode::kBuffered, RouteClass::kWrite,
       named([](SitesShared* sh, ApiCall& call, const std::string& name) {
         CreateDeploy(sh, call.res, name, call.body);
       })},
      {Method::kPost, "sites/*/rollback", K::kSiteDeploy, BodyMode::kBuffered, RouteClass::kWrite,
       named([](SitesShared* sh, ApiCall& call, const std::string& name) {
         Rollback(sh, call.res, name, call.body);
       })},
      // Uploads: the body streams through a hash into a spool, up to
      // --max-body-size (docs/sites.md: 413 past it).
      {Method::kPut, "blobs/*", K::kBlob, BodyMode::kStreamed, RouteClass::kWrite,
       [shared](ApiCall& call) {
         PutBlob(shared, shared->store->Reader(call.reader), call.req, call.res,
                 std::string(call.seg[1]));
       }},
      {Method::kPost, "deploys/*/publish", K::kPublish, BodyMode::kBuffered, RouteClass::kWrite,
       [shared](ApiCall& call) { Publish(shared, call.res, call.seg[1], call.body); }},
  };
  for (const auto& r : routes)
    if (Status st = table->Add(r); !st.ok()) return st;
  return OkStatus();
}

}  // namespace hearth::sites

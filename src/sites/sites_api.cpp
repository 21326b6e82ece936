// The sites' own control endpoints: list, add, change and remove sites,
// their host names and their flags (spa, default, hsts, proxy, rate limits),
// and the config file's declared sites. Versions and deploys are in
// deploys_api.cpp; the route table that maps paths here is api.cpp.
#include <nlohmann/json.hpp>
#include <optional>

#include "base/json.h"
#include "base/strings.h"
#include "sites/api_common.h"
#include "sites/manifest.h"
#include "sites/sites.h"

namespace hearth::sites {
namespace {

using nlohmann::json;

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

// Binds `value` at `i`, or NULL when it is unset (every parameter is bound:
// store/sqlite.h). What NULL means is the statement's: the flags' updates
// keep the stored value, sites.set_proxy clears the proxy.
template <typename T>
void BindOrNull(store::Statement& st, int i, const std::optional<T>& value) {
  if (value)
    st.Bind(i, *value);
  else
    st.BindNull(i);
}

// A flag of Flags (-1 absent, 0, 1) as a value to bind.
std::optional<int64_t> FlagValue(int flag) {
  if (flag < 0) return std::nullopt;
  return flag;
}

Status ApplyFlags(store::Connection& c, int64_t id, const Flags& f) {
  if (f.rate_limit || f.rate_burst) {
    store::Statement st = c.Named("sites.set_rate");
    st.Bind(1, id);
    BindOrNull(st, 2, f.rate_limit);
    BindOrNull(st, 3, f.rate_burst);
    if (Status s = st.Run(); !s.ok()) return s;
  }
  if (f.set_proxy) {
    store::Statement st = c.Named("sites.set_proxy");
    st.Bind(1, id);
    BindOrNull(st, 2, f.proxy);  // NULL here: no proxy
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
  BindOrNull(st, 2, FlagValue(f.spa));
  BindOrNull(st, 3, FlagValue(f.def));
  if (Status s = st.Run(); !s.ok()) return s;
  if (f.def == 1) return c.Named("sites.clear_default").Bind(1, id).Run();
  return OkStatus();
}

}  // namespace

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
  return st;  // what hosts serve follows through ObserveRouting
}

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

bool SiteExists(SitesShared* shared, int reader, const std::string& name) {
  return SiteId(shared->store->Reader(reader), name).ok();
}

}  // namespace hearth::sites

// The sites' versions and deploys: list a site's versions, create a deploy
// (its manifest; the blobs it still misses), publish it (live or as a
// preview), roll back, and drop the versions past the kept number with the
// blobs only they used. Blob uploads are upload.cpp's.
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "base/strings.h"
#include "sites/api_common.h"
#include "sites/manifest.h"
#include "sites/sites.h"

namespace hearth::sites {
namespace {

using nlohmann::json;

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

}  // namespace

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

}  // namespace hearth::sites

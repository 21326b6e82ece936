// The console's sites pages: the list of sites, a site's page (its host
// names, its versions with rollback buttons and preview links), the
// rollback form's post, and the changes stream that keeps both live. Each
// reads and changes through the control API (CallApi), as every page does.
#include "admin/sites_pages.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "admin/html.h"
#include "admin/loopback.h"
#include "base/strings.h"

namespace hearth::admin {
namespace {

using nlohmann::json;

// What makes a sites page live: the changes stream since this generation.
std::string LiveSites(const sites::SitesShared* shared) {
  return "<div hidden data-changes-source=\"/_hearth/changes?since=" +
         std::to_string(shared->generation.load(std::memory_order_acquire)) + "\"></div>";
}

}  // namespace

// GET /_hearth/changes?since=G: server-sent events, "sites" each time what
// hosts serve changes (a deploy, a rollback, hosts) after generation G,
// the one the page was drawn at (so a change in between is not missed).
void ChangesStream(PageContext& ctx) {
  Request& req = *ctx.req;
  Response& res = *ctx.res;
  Form query;
  (void)ParseQueryString(req.query, &query);
  uint64_t since = 0;
  if (!ParseUint(FormValue(query, "since"), &since))
    since = ctx.shared->generation.load(std::memory_order_acquire);
  std::function<void()> wake = res.MakeWaker();
  if (!wake) return res.SetError(500);
  sites::SitesShared* shared = ctx.shared;
  uint64_t listener = shared->changes.Add(std::move(wake));
  // The stream owns the listener: when the connection goes, so does it.
  std::shared_ptr<void> guard(nullptr,
                              [shared, listener](void*) { shared->changes.Remove(listener); });
  auto seen = std::make_shared<uint64_t>(since);
  SessionEventStream(ctx, "changes to sites", guard, [shared, seen](std::string& out) {
    uint64_t now = shared->generation.load(std::memory_order_acquire);
    if (now == *seen) return;
    *seen = now;
    out += "event: sites\ndata: " + std::to_string(now) + "\n\n";
  });
}

void SitesPage(PageContext& ctx) {
  Response& res = *ctx.res;
  const Session& s = ctx.session;
  std::string csrf = s.csrf;
  std::string live = LiveSites(ctx.shared);
  CallApi(
      *ctx.api, Method::kGet, "/_hearth/api/sites", "", res,
      [csrf, live](int status, const json& body, Response& out) {
        if (status != 200 || !body.is_array()) {
          PageOptions o = Page("Sites", "sites", csrf, ApiError(status, body), true);
          return Html(out, 500, RenderPage(o, "<h1>Sites</h1>"));
        }
        std::string h = "<h1>Sites</h1>" + live + "<div data-region=\"sites\">";
        if (body.empty()) {
          h += "<div class=\"card\"><p>No sites yet. Deploy a folder with <code>hearth deploy "
               "./dist --site "
               "blog.localhost</code>.</p></div>";
        } else {
          h += "<table><caption class=\"muted\">" + std::to_string(body.size()) +
               (body.size() == 1 ? " site" : " sites") +
               "</caption><thead><tr><th scope=\"col\">Site</th><th scope=\"col\">Host names</th>"
               "<th scope=\"col\">Live version</th><th "
               "scope=\"col\">Serves</th></tr></thead><tbody>";
          for (const auto& site : body) {
            std::string name = site.value("name", "");
            std::string hosts;
            for (const auto& host : site.value("hosts", json::array()))
              if (host.is_string())
                hosts += (hosts.empty() ? "" : ", ") + Escape(host.get<std::string>());
            std::string live = site["live_version"].is_number()
                                   ? std::to_string(site["live_version"].get<int64_t>())
                                   : "<span class=\"muted\">none yet</span>";
            std::string serves = site["proxy"].is_object() ? "an upstream (proxy)" : "files";
            if (site.value("default", false)) serves += " · default site";
            h += "<tr><td><a href=\"/_hearth/sites/" + UrlEncode(name) + "\">" + Escape(name) +
                 "</a></td><td>" + hosts + "</td><td>" + live + "</td><td>" + serves + "</td></tr>";
          }
          h += "</tbody></table>";
        }
        h += "</div>";
        Html(out, 200, RenderPage(Page("Sites", "sites", csrf), h));
      });
}

void SitePage(PageContext& ctx, const std::string& site) {
  Request& req = *ctx.req;
  Response& res = *ctx.res;
  const Session& s = ctx.session;
  Form query;
  (void)ParseQueryString(req.query, &query);
  std::string flash;
  uint64_t live_now = 0;
  if (ParseUint(FormValue(query, "live"), &live_now))
    flash = "Version " + std::to_string(live_now) + " is live now.";
  if (ParseUint(FormValue(query, "deployed"), &live_now))
    flash = "Version " + std::to_string(live_now) + " is deployed and live.";
  std::string csrf = s.csrf;
  // The site's host names (for the preview links): from the list, read at once.
  // (A read: answered at once, before the versions are asked for.)
  auto listed = std::make_shared<std::vector<std::string>>();
  CallApi(*ctx.api, Method::kGet, "/_hearth/api/sites", "", res,
          [listed, site](int status, const json& body, Response&) {
            if (status != 200 || !body.is_array()) return;
            for (const auto& x : body)
              if (x.value("name", "") == site)
                for (const auto& h : x.value("hosts", json::array()))
                  if (h.is_string()) listed->push_back(h.get<std::string>());
          });
  if (res.deferred() || res.status != 200) return;
  std::vector<std::string> hosts = *listed;
  // Previews are at N.preview.HOST on the port and scheme the console is reached on.
  std::string port;
  std::string_view authority = req.authority.empty() ? req.Header("host") : req.authority;
  if (size_t colon = authority.rfind(':');
      colon != std::string_view::npos && colon + 1 < authority.size() &&
      authority.find_first_not_of("0123456789", colon + 1) == std::string_view::npos)
    port = std::string(authority.substr(colon));  // ":8080", digits only
  std::string preview_host;
  for (const auto& h : hosts)
    if (h.find('*') == std::string::npos) {
      preview_host = h;
      break;
    }
  std::string scheme = req.tls ? "https://" : "http://";
  std::string live = LiveSites(ctx.shared);
  CallApi(
      *ctx.api, Method::kGet, "/_hearth/api/sites/" + UrlEncode(site) + "/versions", "", res,
      [csrf, site, flash, hosts, preview_host, port, scheme, live](int status, const json& body,
                                                                   Response& out) {
        if (status != 200) {
          PageOptions o = Page(site, "sites", csrf, ApiError(status, body), true);
          return Html(out, status == 404 ? 404 : 500,
                      RenderPage(o, "<h1>" + Escape(site) +
                                        "</h1><p><a href=\"/_hearth/sites\">All sites</a></p>"));
        }
        std::string h = "<p><a href=\"/_hearth/sites\">All sites</a></p><h1>" + Escape(site) +
                        "</h1>" + live + "<div data-region=\"site\">";
        std::string names;
        for (const auto& host : hosts) names += (names.empty() ? "" : ", ") + Escape(host);
        h += "<p>Host names: " +
             (names.empty() ? std::string("<span class=\"muted\">none</span>") : names) + "</p>";
        h += "<p><a href=\"/_hearth/sites/" + UrlEncode(site) +
             "/data\">Data: collections and records</a> · "
             "<a href=\"/_hearth/sites/" +
             UrlEncode(site) + "/upload\">Deploy a folder</a></p>";
        const json& versions = body.contains("versions") ? body["versions"] : json::array();
        int64_t live_version =
            body["live_version"].is_number() ? body["live_version"].get<int64_t>() : 0;
        h += "<h2 id=\"versions\">Versions</h2>";
        if (versions.empty()) {
          h += "<div class=\"card\"><p>Nothing deployed yet.</p></div>";
        } else {
          h += "<table aria-labelledby=\"versions\"><thead><tr><th scope=\"col\">Version</th>"
               "<th scope=\"col\">Message</th><th scope=\"col\">Files</th><th "
               "scope=\"col\">Size</th>"
               "<th scope=\"col\">Deployed</th><th scope=\"col\">State</th></tr></thead><tbody>";
          for (const auto& v : versions) {
            int64_t n = v.value("version", int64_t{0});
            bool live = v.value("live", false);
            bool published = v["published_at"].is_number();
            std::string state;
            if (live)
              state = "<span class=\"badge live\">live</span>";
            else if (published)
              state = ButtonForm("/_hearth/sites/" + UrlEncode(site) + "/rollback", csrf,
                                 n < live_version ? "Roll back to " + std::to_string(n)
                                                  : "Make " + std::to_string(n) + " live",
                                 {{"to", std::to_string(n)}}, "secondary");
            else
              state = "<span class=\"badge\">not published</span>";
            if (!preview_host.empty())
              state += " <a href=\"" + scheme + std::to_string(n) + ".preview." +
                       Escape(preview_host) + port + "/\">Preview<span class=\"skip\"> version " +
                       std::to_string(n) + "</span></a>";
            h += "<tr><td>" + std::to_string(n) + "</td><td>" + Escape(v.value("message", "")) +
                 "</td><td>" + std::to_string(v.value("files", int64_t{0})) + "</td><td>" +
                 SizeText(v.value("bytes", int64_t{0})) + "</td><td>" +
                 Date(v.value("created_at", int64_t{0})) + "</td><td>" + state + "</td></tr>";
          }
          h += "</tbody></table>";
        }
        h += "</div>";
        Html(out, 200, RenderPage(Page(site, "sites", csrf, flash), h));
      });
}

void RollbackPost(PageContext& ctx, const std::string& site, uint64_t to) {
  std::string csrf = ctx.session.csrf;
  CallApi(*ctx.api, Method::kPost, "/_hearth/api/sites/" + UrlEncode(site) + "/rollback",
          json{{"to", to}}.dump(), *ctx.res,
          [site, to, csrf](int status, const json& body, Response& out) {
            if (status / 100 != 2) {
              PageOptions o = Page("Rollback failed", "sites", csrf,
                                   "Rollback failed: " + ApiError(status, body), true);
              return Html(
                  out, status,
                  RenderPage(o, "<h1>" + Escape(site) + "</h1><p><a href=\"/_hearth/sites/" +
                                    UrlEncode(site) + "\">Back to the site</a></p>"));
            }
            SeeOther(out, "/_hearth/sites/" + UrlEncode(site) + "?live=" + std::to_string(to));
          });
}

}  // namespace hearth::admin

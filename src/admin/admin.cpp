// The admin console's pages. Each GET renders a whole document from what
// the control API answers (CallApi); each POST checks the session's CSRF
// token, calls the API, and redirects (303) to the page that shows the
// result, so a reload never posts twice.
#include "admin/admin.h"

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "admin/admins_page.h"
#include "admin/assets.h"
#include "admin/common.h"
#include "admin/data_pages.h"
#include "admin/html.h"
#include "admin/login.h"
#include "admin/loopback.h"
#include "admin/ops_pages.h"
#include "admin/session.h"
#include "admin/tokens_page.h"
#include "admin/upload.h"
#include "base/log.h"
#include "base/strings.h"
#include "http/multipart.h"

namespace hearth::admin {
namespace {

using nlohmann::json;

constexpr std::string_view kBase = "/_hearth/";

class Console {
 public:
  Console(sites::SitesShared* shared, data::Apps* apps, int reader, const TrafficStats* stats,
          std::string admin_host, Handler api)
      : shared_(shared),
        apps_(apps),
        reader_(reader),
        stats_(stats),
        admin_host_(std::move(admin_host)),
        api_(std::move(api)) {}

  void Serve(Request& req, Response& res) {
    if (!admin_host_.empty() && req.HostName() != admin_host_) {
      res.SetText(404, "text/plain; charset=utf-8",
                  "404 Not Found\nThe admin console is at http(s)://" + admin_host_ +
                      "/_hearth/ (--admin-host).\n");
      return;
    }
    if (ServedBySite(req.HostName())) {
      // A site's own origin: its files (or an app's uploads) could script
      // the console's pages there. The console lives elsewhere.
      res.SetText(404, "text/plain; charset=utf-8",
                  "404 Not Found\nThe admin console is not served on a site's host name; open "
                  "/_hearth/ on another "
                  "address of this server (such as http://127.0.0.1:PORT/_hearth/).\n");
      res.SetHeader("X-Content-Type-Options", "nosniff");
      return;
    }
    std::string_view rest = req.path.substr(kBase.size() - 1);  // "/..." after /_hearth
    if (rest.substr(0, 4) == "/ui/") return ServeAsset(req, res, rest.substr(4));
    if (rest == "/login") return ServeLogin(shared_, reader_, req, res);
    // A path that is no page of the console is 404 with or without a session.
    if (auto top = Segments(rest); !top.empty() && top[0] != "sites" && top[0] != "logs" &&
                                   top[0] != "logout" && top[0] != "admins" && top[0] != "tokens" &&
                                   top[0] != "changes" && top[0] != "upload")
      return res.SetError(404);
    std::optional<Session> session =
        FindSession(shared_->store->Reader(reader_), req.Header("cookie"), req.tls);
    if (!session) {
      if (req.method != Method::kGet && req.method != Method::kHead) {
        Html(res, 401,
             RenderPage(Page("Logged out"),
                        "<h1>Your session has ended</h1><p><a href=\"/_hearth/login\">Log in</a> "
                        "again.</p>"));
        return;
      }
      // The normal path (not the target as sent), which SafeNext accepts.
      std::string back(req.path);
      if (!req.query.empty()) back.append("?").append(req.query);
      return SeeOther(res, "/_hearth/login?next=" + UrlEncode(back));
    }
    if (auto top = Segments(rest); !top.empty() && top[0] == "upload") {
      // A folder upload: its body is taken as it arrives (the route streams).
      if (req.method != Method::kPost || top.size() != 2) return res.SetError(404);
      if (std::string_view origin = req.Header("origin");
          !origin.empty() && !SameOrigin(req, origin))
        return Refuse(res, *session, 403, "This form was posted from another site.");
      PageContext ctx = Context(req, res, *session);
      return StreamFolderUpload(ctx, SegmentText(top[1]));
    }
    if (req.method == Method::kPost) {
      Form form;
      std::vector<FormFile> files;
      if (auto boundary = MultipartBoundary(req.Header("content-type")); boundary.ok()) {
        // A record's files: plain fields go to the form, files aside.
        auto parts = ParseMultipart(req.body, *boundary);
        if (!parts.ok())
          return Refuse(res, *session, 400,
                        "The upload could not be read: " + parts.error().message);
        for (const auto& p : *parts) {
          if (p.filename.empty())
            form.emplace_back(p.name, std::string(p.data));
          else
            files.push_back(FormFile{p.name, p.filename, std::string(p.data)});
        }
      } else if (!ParseQueryString(req.body, &form)) {
        return Refuse(res, *session, 400, "The form could not be read.");
      }
      // Text that is not UTF-8 could not be passed on as JSON: refused here, once.
      for (const auto& [k, v] : form)
        if (!IsValidUtf8(k) || !IsValidUtf8(v))
          return Refuse(res, *session, 400, "The form holds text that is not UTF-8.");
      for (const auto& f : files)
        if (!IsValidUtf8(f.field) || !IsValidUtf8(f.filename))
          return Refuse(res, *session, 400, "A file's name is not UTF-8: rename it and try again.");
      // Every post carries the session's token: a page elsewhere cannot
      // make the browser act here (SameSite=Strict is the second lock).
      if (!SameSecret(FormValue(form, "csrf"), session->csrf))
        return Refuse(res, *session, 403,
                      "This form is stale or did not come from this console (no valid CSRF token). "
                      "Reload the page and try again.");
      if (std::string_view origin = req.Header("origin");
          !origin.empty() && !SameOrigin(req, origin))
        return Refuse(res, *session, 403, "This form was posted from another site.");
      return Post(req, res, *session, rest, form, std::move(files));
    }
    if (req.method != Method::kGet && req.method != Method::kHead) {
      res.SetError(405);
      res.SetHeader("Allow", "GET, POST");
      return;
    }
    auto seg = Segments(rest);
    if (seg.size() >= 3 && seg[0] == "sites" && seg[2] == "data")
      return Data(req, res, *session, seg, nullptr);
    if (seg.empty()) {
      PageContext ctx = Context(req, res, *session);
      return OverviewPage(ctx, stats_);
    }
    if (seg[0] == "logs" && seg.size() <= 2) {
      PageContext ctx = Context(req, res, *session);
      if (seg.size() == 1) return LogsPage(ctx);
      if (seg[1] == "stream") return LogStream(ctx);
    }
    if (seg[0] == "admins" && seg.size() == 1) {
      PageContext ctx = Context(req, res, *session);
      return AdminsPage(ctx);
    }
    if (seg[0] == "tokens" && seg.size() == 1) {
      PageContext ctx = Context(req, res, *session);
      return TokensPage(ctx);
    }
    if (seg[0] == "changes" && seg.size() == 1) return ChangesStream(req, res, *session);
    if (seg[0] == "sites" && seg.size() == 1) return SitesPage(req, res, *session);
    if (seg[0] == "sites" && seg.size() == 2)
      return SitePage(req, res, *session, SegmentText(seg[1]));
    if (seg[0] == "sites" && seg.size() == 3 && seg[2] == "upload") {
      PageContext ctx = Context(req, res, *session);
      return UploadForm(ctx, SegmentText(seg[1]));
    }
    NotFound(res, *session);
  }

 private:
  // Whether a site claims `host`: exactly, by a wildcard, or as one of its
  // previews (N.preview.SITE). The default site, which takes whatever no
  // site claims, does not count (see docs/admin.md).
  bool ServedBySite(std::string_view host) {
    if (host.empty()) return false;
    store::Connection& rd = shared_->store->Reader(reader_);
    auto claimed = [&](std::string_view name) {
      store::Statement st = rd.Named("hosts.lookup");
      st.Bind(1, name);
      Status s = OkStatus();
      return st.Step(&s);
    };
    std::string h(host);
    if (claimed(h)) return true;
    for (size_t dot = h.find('.'); dot != std::string::npos; dot = h.find('.', dot + 1))
      if (claimed("*" + h.substr(dot))) return true;
    size_t dot = h.find('.');
    if (dot != std::string::npos && dot > 0 && h.compare(dot, 9, ".preview.") == 0) {
      store::Statement st = rd.Named("sites.by_name");
      st.Bind(1, std::string_view(h).substr(dot + 9));
      Status s = OkStatus();
      if (st.Step(&s)) return true;
    }
    return false;
  }

  void Data(Request& req, Response& res, const Session& s, const std::vector<std::string_view>& seg,
            const Form* form, std::vector<FormFile> files = {}) {
    PageContext ctx = Context(req, res, s);
    ctx.files = std::move(files);
    std::vector<std::string> rest;
    for (size_t i = 3; i < seg.size(); ++i) rest.push_back(SegmentText(seg[i]));
    ServeDataPage(ctx, SegmentText(seg[1]), rest, form);
  }

  void ServeAsset(Request& req, Response& res, std::string_view name) {
    const Asset* a = FindAsset(name);
    if (!a) return res.SetError(404);
    std::string type = "application/octet-stream";
    if (name.size() > 4 && name.substr(name.size() - 4) == ".css") type = "text/css; charset=utf-8";
    if (name.size() > 3 && name.substr(name.size() - 3) == ".js")
      type = "text/javascript; charset=utf-8";
    res.SetText(200, type, std::string(a->data));
    res.SetHeader("X-Content-Type-Options", "nosniff");
    // Pages name assets with ?v=<fingerprint>: such a URL never changes.
    res.SetHeader("Cache-Control",
                  req.query.empty() ? "no-cache" : "public, max-age=31536000, immutable");
  }

  static bool SameOrigin(const Request& req, std::string_view origin) {
    size_t scheme = origin.find("://");
    if (scheme == std::string_view::npos) return false;
    return EqualsIgnoreCase(origin.substr(scheme + 3),
                            req.authority.empty() ? req.Header("host") : req.authority);
  }

  void Refuse(Response& res, const Session& s, int status, std::string_view why) {
    PageOptions o = Page("Refused", "", s.csrf, std::string(why), true);
    Html(res, status,
         RenderPage(o, "<h1>Not done</h1><p><a href=\"/_hearth/sites\">Back to the sites</a></p>"));
  }

  void NotFound(Response& res, const Session& s) {
    Html(res, 404,
         RenderPage(Page("Not found", "", s.csrf),
                    "<h1>Not found</h1><p>No such page in the console. <a "
                    "href=\"/_hearth/sites\">Sites</a></p>"));
  }

  void Post(Request& req, Response& res, const Session& s, std::string_view rest, const Form& form,
            std::vector<FormFile> files) {
    if (rest == "/logout") {
      std::string hash = s.hash;
      bool secure = req.tls;
      auto reply = res.Defer();
      if (!reply) return res.SetError(500);
      shared_->store->SubmitWrite([hash](store::Connection& c) { return DeleteSession(c, hash); },
                                  [reply, secure](const Status&) {
                                    reply->Finish([secure](Response& out) {
                                      SeeOther(out, "/_hearth/login");
                                      out.SetHeader("Set-Cookie", SessionCookie("", secure));
                                    });
                                  });
      return;
    }
    auto seg = Segments(rest);
    if (!seg.empty() && seg[0] == "admins") {
      PageContext ctx = Context(req, res, s);
      std::vector<std::string> after;
      for (size_t i = 1; i < seg.size(); ++i) after.push_back(SegmentText(seg[i]));
      return AdminsPost(ctx, after, form);
    }
    if (!seg.empty() && seg[0] == "tokens") {
      PageContext ctx = Context(req, res, s);
      std::vector<std::string> after;
      for (size_t i = 1; i < seg.size(); ++i) after.push_back(SegmentText(seg[i]));
      return TokensPost(ctx, after, form);
    }
    if (seg.size() >= 3 && seg[0] == "sites" && seg[2] == "data")
      return Data(req, res, s, seg, &form, std::move(files));
    if (seg.size() == 3 && seg[0] == "sites" && seg[2] == "rollback") {
      std::string site = SegmentText(seg[1]);
      uint64_t to = 0;
      if (!ParseUint(FormValue(form, "to"), &to) || to == 0)
        return Refuse(res, s, 400, "Choose a version to roll back to.");
      std::string csrf = s.csrf;
      CallApi(api_, Method::kPost, "/_hearth/api/sites/" + UrlEncode(site) + "/rollback",
              json{{"to", to}}.dump(), res,
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
      return;
    }
    NotFound(res, s);
  }

  // GET /_hearth/changes?since=G: server-sent events, "sites" each time what
  // hosts serve changes (a deploy, a rollback, hosts) after generation G,
  // the one the page was drawn at (so a change in between is not missed).
  void ChangesStream(Request& req, Response& res, const Session& session) {
    Form query;
    (void)ParseQueryString(req.query, &query);
    uint64_t since = 0;
    if (!ParseUint(FormValue(query, "since"), &since))
      since = shared_->generation.load(std::memory_order_acquire);
    std::function<void()> wake = res.MakeWaker();
    if (!wake) return res.SetError(500);
    sites::SitesShared* shared = shared_;
    uint64_t listener = shared->changes.Add(std::move(wake));
    // The stream owns the listener: when the connection goes, so does it.
    std::shared_ptr<void> guard(nullptr,
                                [shared, listener](void*) { shared->changes.Remove(listener); });
    auto seen = std::make_shared<uint64_t>(since);
    PageContext ctx = Context(req, res, session);
    SessionEventStream(ctx, "changes to sites", guard, [shared, seen](std::string& out) {
      uint64_t now = shared->generation.load(std::memory_order_acquire);
      if (now == *seen) return;
      *seen = now;
      out += "event: sites\ndata: " + std::to_string(now) + "\n\n";
    });
  }

  // What makes a sites page live: the changes stream since this generation.
  std::string LiveSites() const {
    return "<div hidden data-changes-source=\"/_hearth/changes?since=" +
           std::to_string(shared_->generation.load(std::memory_order_acquire)) + "\"></div>";
  }

  void SitesPage(Request&, Response& res, const Session& s) {
    std::string csrf = s.csrf;
    std::string live = LiveSites();
    CallApi(
        api_, Method::kGet, "/_hearth/api/sites", "", res,
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
                   "</a></td><td>" + hosts + "</td><td>" + live + "</td><td>" + serves +
                   "</td></tr>";
            }
            h += "</tbody></table>";
          }
          h += "</div>";
          Html(out, 200, RenderPage(Page("Sites", "sites", csrf), h));
        });
  }

  void SitePage(Request& req, Response& res, const Session& s, const std::string& site) {
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
    CallApi(api_, Method::kGet, "/_hearth/api/sites", "", res,
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
    std::string live = LiveSites();
    CallApi(
        api_, Method::kGet, "/_hearth/api/sites/" + UrlEncode(site) + "/versions", "", res,
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

  PageContext Context(Request& req, Response& res, const Session& s) {
    PageContext ctx;
    ctx.shared = shared_;
    ctx.apps = apps_;
    ctx.reader = reader_;
    ctx.api = &api_;
    ctx.session = s;
    ctx.req = &req;
    ctx.res = &res;
    return ctx;
  }

  sites::SitesShared* shared_;
  data::Apps* apps_;
  int reader_;
  const TrafficStats* stats_;
  std::string admin_host_;
  Handler api_;
};

}  // namespace

void AddAdminRoutes(Router* router, sites::SitesShared* shared, data::Apps* apps, int reader,
                    Handler api, const TrafficStats* stats, std::string admin_host) {
  for (char& c : admin_host) c = AsciiLower(c);
  if (reader == 0) WarmLogin(shared);
  auto console =
      std::make_shared<Console>(shared, apps, reader, stats, std::move(admin_host), std::move(api));
  Handler serve = [console](Request& req, Response& res) { console->Serve(req, res); };
  router->Add("", "/_hearth/", serve);
  router->Add("", "/_hearth/upload/", serve, /*stream_body=*/true);  // folders of any size
}

}  // namespace hearth::admin

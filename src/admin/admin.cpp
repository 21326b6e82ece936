// The admin console's router: which host it answers on, its assets, the
// session check (a login page for a GET without one), the checks every POST
// passes (CSRF token, origin, a readable form), and which page serves a
// path. The pages are in their own files (sites_pages, data_pages,
// ops_pages, admins_page, tokens_page, upload). Each GET renders a whole
// document from what the control API answers (CallApi); each POST checks the
// session's CSRF token, calls the API, and redirects (303) to the page that
// shows the result, so a reload never posts twice.
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
#include "admin/sites_pages.h"
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
          std::string admin_host, Handler api, BackupFactsSource backup)
      : shared_(shared),
        apps_(apps),
        reader_(reader),
        stats_(stats),
        admin_host_(std::move(admin_host)),
        api_(std::move(api)),
        backup_(std::move(backup)) {}

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
    PageContext ctx = Context(req, res, *session);
    if (seg.empty()) return OverviewPage(ctx, stats_, &backup_);
    if (seg[0] == "logs" && seg.size() == 2 && seg[1] == "stream") return LogStream(ctx);
    if (seg[0] == "logs" && seg.size() == 1) return LogsPage(ctx);
    if (seg[0] == "admins" && seg.size() == 1) return AdminsPage(ctx);
    if (seg[0] == "tokens" && seg.size() == 1) return TokensPage(ctx);
    if (seg[0] == "changes" && seg.size() == 1) return ChangesStream(ctx);
    if (seg[0] == "sites" && seg.size() == 1) return SitesPage(ctx);
    if (seg[0] == "sites" && seg.size() == 2) return SitePage(ctx, SegmentText(seg[1]));
    if (seg[0] == "sites" && seg.size() == 3 && seg[2] == "upload")
      return UploadForm(ctx, SegmentText(seg[1]));
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
      PageContext ctx = Context(req, res, s);
      return RollbackPost(ctx, site, to);
    }
    NotFound(res, s);
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
  BackupFactsSource backup_;  // null: no streaming backup
};

}  // namespace

void AddAdminRoutes(Router* router, sites::SitesShared* shared, data::Apps* apps, int reader,
                    Handler api, const TrafficStats* stats, std::string admin_host,
                    BackupFactsSource backup) {
  for (char& c : admin_host) c = AsciiLower(c);
  if (reader == 0) WarmLogin(shared);
  auto console = std::make_shared<Console>(shared, apps, reader, stats, std::move(admin_host),
                                           std::move(api), std::move(backup));
  Handler serve = [console](Request& req, Response& res) { console->Serve(req, res); };
  router->Add("", "/_hearth/", serve);
  router->Add("", "/_hearth/upload/", serve, /*stream_body=*/true);  // folders of any size
}

}  // namespace hearth::admin

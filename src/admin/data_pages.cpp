// The console's data pages, under /_hearth/sites/{site}/data: a site's
// collections, each collection's fields and rules, and its records (a
// paged, sortable, filterable table; forms made from the JSON Schema).
// Collections change through the control API, records through the site's
// app API as a superuser, both called in-process: the same validation, the
// same realtime events, as any client gets.
#include "admin/data_pages.h"

#include <memory>
#include <string>
#include <utility>

#include "admin/data_pages_internal.h"
#include "admin/html.h"
#include "admin/loopback.h"
#include "base/strings.h"
#include "data/api.h"

namespace hearth::admin {
namespace data_pages {

std::string Base(const std::string& site) {
  return "/_hearth/sites/" + UrlEncode(site) + "/data";
}

Handler AppApi(data::Apps* apps, int reader, std::string site) {
  return [apps, reader, site = std::move(site)](Request& req, Response& res) {
    static const data::DataOptions kSuperuser{
        [](int, std::string_view auth) { return auth == "hearth-console"; }};
    // The app API looks for a superuser's Authorization; the console's
    // session (checked already) is the admin's.
    req.headers.push_back({"authorization", "hearth-console"});
    if (!data::ServeAppApi(apps, kSuperuser, reader, site, req, res))
      res.SetText(404, "application/json",
                  R"({"status":404,"message":"This site has no collections yet.","data":{}})");
  };
}

std::string Breadcrumbs(const std::string& site, const std::string& collection) {
  std::string h =
      "<nav aria-label=\"Breadcrumb\" class=\"crumbs\"><a href=\"/_hearth/sites\">Sites</a> / <a "
      "href=\"/_hearth/sites/" +
      UrlEncode(site) + "\">" + Escape(site) + "</a> / <a href=\"" + Base(site) + "\">Data</a>";
  if (!collection.empty())
    h += " / <a href=\"" + Base(site) + "/" + UrlEncode(collection) + "/records\">" +
         Escape(collection) + "</a>";
  return h + "</nav>";
}

std::string LiveRegion(const PageContext& ctx, const std::string& site, const std::string& topics) {
  return "<div hidden data-live-source=\"" + Base(site) + "/live\" data-topics=\"" +
         Escape(topics) + "\" data-csrf=\"" + Escape(ctx.session.csrf) + "\"></div>";
}

void DataPages::Get(const std::vector<std::string>& seg) {
  if (seg.empty()) return Collections();
  if (seg.size() == 1 && seg[0] == "live") return LiveStream();
  if (seg.size() == 1) return Schema(seg[0]);
  if (seg.size() == 2 && seg[1] == "records") return Records(seg[0]);
  if (seg.size() == 3 && seg[1] == "records")
    return RecordPage(seg[0], seg[2] == "new" ? "" : seg[2]);
  if (seg.size() == 3 && seg[1] == "fields") return FieldPage(seg[0], seg[2]);
  NotFound();
}

void DataPages::Post(const std::vector<std::string>& seg, const Form& form) {
  if (seg.empty()) return CreateCollection(form);
  if (seg.size() == 1 && seg[0] == "live") return Subscribe(form);
  if (seg.size() == 2 && seg[1] == "fields") return ChangeFields(seg[0], form, /*remove=*/false);
  if (seg.size() == 3 && seg[1] == "fields" && seg[2] == "remove")
    return ChangeFields(seg[0], form, true);
  if (seg.size() == 3 && seg[1] == "fields") return EditField(seg[0], seg[2], form);
  if (seg.size() == 2 && seg[1] == "rules") return SetRules(seg[0], form);
  if (seg.size() == 2 && seg[1] == "delete") return DeleteCollection(seg[0]);
  if (seg.size() == 2 && seg[1] == "records") return SaveRecord(seg[0], "", form);
  if (seg.size() == 3 && seg[1] == "records") return SaveRecord(seg[0], seg[2], form);
  if (seg.size() == 4 && seg[1] == "records" && seg[3] == "delete")
    return DeleteRecord(seg[0], seg[2]);
  NotFound();
}

std::string DataPages::ControlPath(const std::string& collection) const {
  return "/_hearth/api/sites/" + UrlEncode(site_) + "/collections" +
         (collection.empty() ? "" : "/" + UrlEncode(collection));
}

void DataPages::NotFound() {
  Html(*ctx_.res, 404,
       RenderPage(Page("Not found", "sites", ctx_.session.csrf),
                  Breadcrumbs(site_) + "<h1>Not found</h1><p>No such page.</p>"));
}

void DataPages::Failed(Response& out, int status, const std::string& title,
                       const std::string& message, const std::string& collection) {
  Html(out, status >= 400 ? status : 500,
       RenderPage(Page(title, "sites", ctx_.session.csrf, message, true),
                  Breadcrumbs(site_, collection) + "<h1>" + Escape(title) + "</h1>"));
}

// The realtime stream of the site's app API, as a superuser; the page's
// script then names its topics (Subscribe).
void DataPages::LiveStream() {
  Request& req = *ctx_.req;
  Request inner;
  inner.method = Method::kGet;
  inner.method_text = "GET";
  inner.path = "/api/realtime";
  inner.target = "/api/realtime";
  inner.peer_ip = req.peer_ip;
  AppApi(ctx_.apps, ctx_.reader, site_)(inner, *ctx_.res);
  Harden(*ctx_.res);
  ctx_.res->SetHeader("Cache-Control", "no-store");
}

void DataPages::Subscribe(const Form& form) {
  json topics = json::array();
  for (const auto& t : FormValues(form, "topics")) topics.push_back(t);
  json body = {{"clientId", FormValue(form, "clientId")}, {"subscriptions", topics}};
  CallApi(AppApi(ctx_.apps, ctx_.reader, site_), Method::kPost, "/api/realtime", body.dump(),
          *ctx_.res, [](int status, const json& answer, Response& out) {
            if (status / 100 != 2) return out.SetText(status, "application/json", answer.dump());
            out.SetText(204, "text/plain", "");
            out.status = 204;
          });
}

}  // namespace data_pages

void ServeDataPage(PageContext& ctx, const std::string& site, const std::vector<std::string>& rest,
                   const Form* form) {
  // Deferred answers outlive this call: the pages object lives as long as
  // the last callback that holds it.
  auto pages = std::make_shared<data_pages::DataPages>(std::move(ctx), site);
  if (form)
    pages->Post(rest, *form);
  else
    pages->Get(rest);
}

}  // namespace hearth::admin

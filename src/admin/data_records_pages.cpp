// The console's record pages, under /_hearth/sites/{site}/data/{collection}:
// a paged, sortable, filterable table of records, a record's form (made from
// the collection's JSON Schema; files as multipart), saving and deleting.
// Records go through the site's app API as a superuser, so its validation and
// realtime events apply.
#include <string>
#include <vector>

#include "admin/data_pages_internal.h"
#include "admin/forms.h"
#include "admin/html.h"
#include "admin/loopback.h"
#include "api/tokens.h"
#include "base/strings.h"

namespace hearth::admin::data_pages {
namespace {

constexpr int kPerPage = 20;

// The app API's body for a record form: its JSON, or, with files chosen,
// multipart/form-data holding the JSON as "@jsonPayload" and each file as a
// part named by its field ("field+" adds to a multi-file field's list, as
// the API takes it). Parts for inputs that are no file field are dropped.
std::string RecordBody(const json& def, const json& body, const std::vector<FormFile>& files,
                       std::string* content_type) {
  std::string boundary = "hearth-console-" + api::NewToken();  // 256 random bits: in no file
  std::string out;
  bool any = false;
  for (const auto& file : files) {
    if (file.filename.empty() || file.field.rfind("f.", 0) != 0) continue;
    std::string name = file.field.substr(2);
    bool found = false, multi = false;
    for (const auto& f : def.value("fields", json::array()))
      if (f.value("name", "") == name && f.value("type", "") == "file") {
        found = true;
        multi = f.contains("maxSelect") && f["maxSelect"].is_number_integer() &&
                f["maxSelect"].get<int64_t>() > 1;
      }
    if (!found) continue;
    std::string filename;
    for (char c : file.filename) {
      if (c == '"')
        filename += "%22";
      else if (c != '\r' && c != '\n')
        filename.push_back(c);
    }
    out += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name +
           (multi ? "+" : "") + "\"; filename=\"" + filename +
           "\"\r\nContent-Type: application/octet-stream\r\n\r\n";
    out += file.data;
    out += "\r\n";
    any = true;
  }
  if (!any) return body.dump();
  *content_type = "multipart/form-data; boundary=" + boundary;
  return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"@jsonPayload\"\r\n\r\n" +
         body.dump() + "\r\n" + out + "--" + boundary + "--\r\n";
}

}  // namespace

void DataPages::Records(const std::string& collection) {
  Form query;
  (void)ParseQueryString(ctx_.req->query, &query);
  uint64_t page_no = 1;
  if (!ParseUint(FormValue(query, "page"), &page_no) || page_no == 0) page_no = 1;
  std::string sort = FormValue(query, "sort");
  if (sort.empty()) sort = "-created";
  std::string filter = FormValue(query, "filter");
  std::string csrf = ctx_.session.csrf, site = site_;
  CallApi(*ctx_.api, Method::kGet, ControlPath(collection), "", *ctx_.res,
          [this, self = shared_from_this(), csrf, site, collection, page_no, sort, filter](
              int status, const json& def, Response& page) {
            if (status != 200) return Failed(page, status, collection, ApiError(status, def));
            std::string path = "/api/collections/" + UrlEncode(collection) +
                               "/records?page=" + std::to_string(page_no) +
                               "&perPage=" + std::to_string(kPerPage) + "&sort=" + UrlEncode(sort) +
                               (filter.empty() ? "" : "&filter=" + UrlEncode(filter));
            CallApi(AppApi(ctx_.apps, ctx_.reader, site), Method::kGet, path, "", page,
                    [this, self = shared_from_this(), csrf, site, collection, def, page_no, sort,
                     filter](int st, const json& list, Response& out) {
                      RenderRecords(out, csrf, site, collection, def, st, list, page_no, sort,
                                    filter);
                    });
          });
}

void DataPages::RenderRecords(Response& out, const std::string& csrf, const std::string& site,
                              const std::string& collection, const json& def, int status,
                              const json& list, uint64_t page_no, const std::string& sort,
                              const std::string& filter) {
  std::string base = Base(site) + "/" + UrlEncode(collection);
  std::vector<std::string> columns;
  for (const auto& f : def.value("fields", json::array())) {
    std::string name = f.value("name", "");
    if (f.value("hidden", false) || name == "id" || name == "created" || name == "updated" ||
        name == "tokenKey")
      continue;
    if (columns.size() < 6) columns.push_back(name);
  }
  auto link = [&](uint64_t p, const std::string& s) {
    return base + "/records?page=" + std::to_string(p) + "&sort=" + UrlEncode(s) +
           (filter.empty() ? "" : "&filter=" + UrlEncode(filter));
  };
  std::string h = Breadcrumbs(site, collection) + "<h1>" + Escape(collection) + "</h1>";
  h += LiveRegion(ctx_, site, collection + "/* @schema");
  h += "<p><a class=\"button\" href=\"" + base + "/records/new\">New record</a> <a href=\"" + base +
       "\">Fields and rules</a></p>";
  h += "<form method=\"get\" action=\"" + base +
       "/records\" class=\"card\" role=\"search\"><label for=\"filter\">Filter"
       "</label><input id=\"filter\" name=\"filter\" type=\"text\" value=\"" +
       Escape(filter) +
       "\" placeholder=\"title ~ 'news' &amp;&amp; views &gt; 3\" "
       "aria-describedby=\"filter-hint\"><input type=\"hidden\" "
       "name=\"sort\" value=\"" +
       Escape(sort) +
       "\"><p class=\"hint\" id=\"filter-hint\">The API's filter language.</p>"
       "<p><button type=\"submit\">Apply</button></p></form>";
  h += "<div data-region=\"records\">";
  if (status != 200) {
    h += "<p class=\"flash error\" role=\"alert\">" + Escape(ApiError(status, list)) + "</p></div>";
    return Html(out, status >= 400 && status < 600 ? status : 500,
                RenderPage(Page(collection, "sites", csrf), h));
  }
  int64_t total = list.value("totalItems", int64_t{0});
  int64_t pages = list.value("totalPages", int64_t{0});
  const json items = list.value("items", json::array());
  h += "<table aria-describedby=\"count\"><caption id=\"count\" class=\"muted\">" +
       std::to_string(total) + (total == 1 ? " record" : " records") +
       (filter.empty() ? "" : " matching the filter") + "</caption><thead><tr>";
  auto header = [&](const std::string& name) {
    // Sorted by this column: the link flips the order; aria-sort says which.
    std::string aria, arrow;
    std::string next = name;
    if (sort == name) {
      aria = " aria-sort=\"ascending\"";
      arrow = "<span aria-hidden=\"true\"> ▲</span>";
      next = "-" + name;
    } else if (sort == "-" + name) {
      aria = " aria-sort=\"descending\"";
      arrow = "<span aria-hidden=\"true\"> ▼</span>";
    }
    h += "<th scope=\"col\"" + aria + "><a href=\"" + link(1, next) + "\">" + Escape(name) + arrow +
         "</a></th>";
  };
  header("id");
  for (const auto& c : columns) header(c);
  header("created");
  h += "</tr></thead><tbody>";
  for (const auto& r : items) {
    std::string id = r.value("id", "");
    h += "<tr><td><a href=\"" + base + "/records/" + UrlEncode(id) + "\">" + Escape(id) +
         "</a></td>";
    for (const auto& c : columns) {
      std::string v;
      if (r.contains(c)) {
        const json& x = r[c];
        v = x.is_string() ? x.get<std::string>() : x.is_null() ? "" : x.dump();
      }
      if (v.size() > 80) v = v.substr(0, 77) + "...";
      h += "<td>" + Escape(v) + "</td>";
    }
    h += "<td>" + Escape(r.value("created", "")) + "</td></tr>";
  }
  h += "</tbody></table>";
  if (pages > 1) {
    h += "<nav aria-label=\"Pages\" class=\"pages\"><p>";
    if (page_no > 1)
      h += "<a href=\"" + link(page_no - 1, sort) + "\" rel=\"prev\">Previous page</a> ";
    h += "Page " + std::to_string(page_no) + " of " + std::to_string(pages);
    if (static_cast<int64_t>(page_no) < pages)
      h += " <a href=\"" + link(page_no + 1, sort) + "\" rel=\"next\">Next page</a>";
    h += "</p></nav>";
  }
  h += "</div>";
  Html(out, 200, RenderPage(Page(collection, "sites", csrf), h));
}

void DataPages::RecordPage(const std::string& collection, const std::string& id) {
  Form query;
  (void)ParseQueryString(ctx_.req->query, &query);
  std::string flash = FormValue(query, "done") == "saved" ? "Saved." : "";
  std::string csrf = ctx_.session.csrf, site = site_;
  CallApi(*ctx_.api, Method::kGet, ControlPath(collection), "", *ctx_.res,
          [this, self = shared_from_this(), csrf, site, collection, id, flash](
              int status, const json& def, Response& page) {
            if (status != 200) return Failed(page, status, collection, ApiError(status, def));
            if (id.empty())
              return RenderRecord(page, csrf, site, collection, def, json::object(), json::object(),
                                  "", 200);
            CallApi(AppApi(ctx_.apps, ctx_.reader, site), Method::kGet,
                    "/api/collections/" + UrlEncode(collection) + "/records/" + UrlEncode(id), "",
                    page,
                    [this, self = shared_from_this(), csrf, site, collection, def, id, flash](
                        int st, const json& record, Response& out) {
                      if (st != 200)
                        return Failed(out, st, collection, ApiError(st, record), collection);
                      RenderRecord(out, csrf, site, collection, def, record, json::object(), flash,
                                   200);
                    });
          });
}

void DataPages::RenderRecord(Response& out, const std::string& csrf, const std::string& site,
                             const std::string& collection, const json& def, const json& record,
                             const json& errors, const std::string& flash, int status) {
  std::string id = record.value("id", "");
  bool is_new = id.empty();
  std::string base = Base(site) + "/" + UrlEncode(collection);
  std::string h =
      Breadcrumbs(site, collection) + "<h1>" +
      (is_new ? "New record in " + Escape(collection) : Escape(collection) + " " + Escape(id)) +
      "</h1>";
  h += LiveRegion(ctx_, site, "@schema");
  if (!is_new)
    h += "<p class=\"muted\">Created " + Escape(record.value("created", "")) + " · updated " +
         Escape(record.value("updated", "")) + "</p>";
  h += "<div data-region=\"form\">" +
       RecordForm(def, record, errors, base + "/records" + (is_new ? "" : "/" + UrlEncode(id)),
                  csrf, is_new ? "Create record" : "Save", is_new) +
       "</div>";
  if (!is_new)
    h += "<div class=\"card\">" +
         ButtonForm(base + "/records/" + UrlEncode(id) + "/delete", csrf, "Delete record") +
         "</div>";
  bool failed = !errors.empty();
  std::string why = "Not saved: check the fields marked below.";
  if (errors.contains("_") && errors["_"].is_object())
    why = "Not saved: " + errors["_"].value("message", "");
  Html(out, status,
       RenderPage(Page(is_new ? "New record" : collection + " " + id, "sites", csrf,
                       failed ? why : flash, failed),
                  h));
}

void DataPages::SaveRecord(const std::string& collection, const std::string& id, const Form& form) {
  std::string csrf = ctx_.session.csrf, site = site_;
  auto files = std::make_shared<std::vector<FormFile>>(std::move(ctx_.files));
  CallApi(*ctx_.api, Method::kGet, ControlPath(collection), "", *ctx_.res,
          [this, self = shared_from_this(), csrf, site, collection, id, form, files](
              int status, const json& def, Response& page) {
            if (status != 200) return Failed(page, status, collection, ApiError(status, def));
            json errors = json::object();
            json body = FormToRecord(def, form, id.empty(), &errors);
            json shown = body;
            if (!id.empty()) shown["id"] = id;
            if (!errors.empty())
              return RenderRecord(page, csrf, site, collection, def, shown, errors, "", 400);
            std::string path = "/api/collections/" + UrlEncode(collection) + "/records" +
                               (id.empty() ? "" : "/" + UrlEncode(id));
            std::string content_type = "application/json";
            std::string payload = RecordBody(def, body, *files, &content_type);
            CallApi(
                AppApi(ctx_.apps, ctx_.reader, site), id.empty() ? Method::kPost : Method::kPatch,
                path, payload, page,
                [this, self = shared_from_this(), csrf, site, collection, def, shown](
                    int st, const json& answer, Response& out) {
                  if (st / 100 == 2) {
                    return SeeOther(out, Base(site) + "/" + UrlEncode(collection) + "/records/" +
                                             UrlEncode(answer.value("id", "")) + "?done=saved");
                  }
                  // The API's own verdict, field by field, beside the inputs.
                  json errors = answer.contains("data") && answer["data"].is_object() &&
                                        !answer["data"].empty()
                                    ? answer["data"]
                                    : json{{"_", {{"message", ApiError(st, answer)}}}};
                  RenderRecord(out, csrf, site, collection, def, shown, errors, "", st);
                },
                content_type);
          });
}

void DataPages::DeleteRecord(const std::string& collection, const std::string& id) {
  std::string site = site_;
  CallApi(AppApi(ctx_.apps, ctx_.reader, site), Method::kDelete,
          "/api/collections/" + UrlEncode(collection) + "/records/" + UrlEncode(id), "", *ctx_.res,
          [this, self = shared_from_this(), site, collection](int status, const json& body,
                                                              Response& out) {
            if (status / 100 != 2)
              return Failed(out, status, "Not deleted", ApiError(status, body), collection);
            SeeOther(out, Base(site) + "/" + UrlEncode(collection) + "/records");
          });
}

}  // namespace hearth::admin::data_pages

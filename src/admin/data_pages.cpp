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

#include "admin/forms.h"
#include "admin/html.h"
#include "admin/loopback.h"
#include "api/tokens.h"
#include "base/json.h"
#include "base/strings.h"
#include "data/api.h"

namespace hearth::admin {

using nlohmann::json;

namespace {

constexpr int kPerPage = 20;
const char* const kTypes[] = {"text", "number", "bool", "email",    "url",
                              "date", "select", "json", "relation", "file"};
const char* const kRules[] = {"listRule", "viewRule", "createRule", "updateRule", "deleteRule"};

std::string Base(const std::string& site) {
  return "/_hearth/sites/" + UrlEncode(site) + "/data";
}

// The site's app API, as a superuser (the console's session stands for the admin).
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

std::string Breadcrumbs(const std::string& site, const std::string& collection = "") {
  std::string h =
      "<nav aria-label=\"Breadcrumb\" class=\"crumbs\"><a href=\"/_hearth/sites\">Sites</a> / <a "
      "href=\"/_hearth/sites/" +
      UrlEncode(site) + "\">" + Escape(site) + "</a> / <a href=\"" + Base(site) + "\">Data</a>";
  if (!collection.empty())
    h += " / <a href=\"" + Base(site) + "/" + UrlEncode(collection) + "/records\">" +
         Escape(collection) + "</a>";
  return h + "</nav>";
}

// What the console keeps open for live updates: the realtime stream's URL
// and the topics (collection events, schema changes) a page listens to.
std::string LiveRegion(const PageContext& ctx, const std::string& site, const std::string& topics) {
  return "<div hidden data-live-source=\"" + Base(site) + "/live\" data-topics=\"" +
         Escape(topics) + "\" data-csrf=\"" + Escape(ctx.session.csrf) + "\"></div>";
}

std::string FieldSummary(const json& f) {
  std::string type = f.value("type", "");
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ", ") + part; };
  if (f.contains("min") && !f["min"].is_null()) add("min " + f["min"].dump());
  if (f.contains("max") && !f["max"].is_null()) add("max " + f["max"].dump());
  if (f.value("onlyInt", false)) add("integers");
  if (f.contains("values")) {
    std::string v;
    for (const auto& x : f["values"]) v += (v.empty() ? "" : " | ") + x.get<std::string>();
    add(v);
  }
  if (f.contains("collection")) add("→ " + f.value("collection", ""));
  if (f.value("maxSelect", 1) > 1) add("up to " + std::to_string(f.value("maxSelect", 1)));
  return s;
}

json UserFields(const json& def) {
  json out = json::array();
  for (const auto& f : def.value("fields", json::array()))
    if (!f.value("system", false)) out.push_back(f);
  return out;
}

// A field definition from the "add a field" form, or an error message.
// `field` holds the field being changed (its name and type stay), or is
// empty for a new one (named and typed by the form).
std::string FieldFromForm(const Form& form, json* field) {
  bool is_new = !field->is_object() || field->empty();
  std::string name =
      is_new ? std::string(TrimOws(FormValue(form, "name"))) : field->value("name", "");
  std::string type = is_new ? FormValue(form, "type") : field->value("type", "");
  if (name.empty()) return "Give the field a name.";
  json f = is_new ? json::object() : *field;
  f["name"] = name;
  f["type"] = type;
  f["required"] = FormValue(form, "required") == "on";
  auto number = [&](const char* key, const char* label) -> std::string {
    std::string v(TrimOws(FormValue(form, key)));
    if (v.empty()) {
      f.erase(key);  // no bound
      return "";
    }
    json n = ParseJson(v).value_or(json());
    if (!n.is_number()) return std::string(label) + " must be a number.";
    f[key] = n;
    return "";
  };
  if (std::string e = number("min", "Min"); !e.empty()) return e;
  if (std::string e = number("max", "Max"); !e.empty()) return e;
  if (std::string e = number("maxSelect", "Max choices"); !e.empty()) return e;
  if (type == "number") f["onlyInt"] = FormValue(form, "onlyInt") == "on";
  if (type == "select") {
    f["values"] = CommaList(FormValue(form, "values"));
  }
  if (type == "relation") f["collection"] = std::string(TrimOws(FormValue(form, "collection")));
  *field = f;
  return "";
}

// The options of a field, as inputs filled from `f` ({} for a new field);
// those that do not apply to its type are ignored when saved.
std::string FieldOptions(const json& f) {
  auto text = [&](const char* key) -> std::string {
    if (!f.contains(key) || f[key].is_null()) return "";
    if (f[key].is_string()) return f[key].get<std::string>();
    if (f[key].is_array()) {
      std::string out;
      for (const auto& x : f[key])
        out += (out.empty() ? "" : ", ") + (x.is_string() ? x.get<std::string>() : x.dump());
      return out;
    }
    return f[key].dump();
  };
  auto checked = [&](const char* key) { return f.value(key, false) ? " checked" : ""; };
  return std::string("<p><input type=\"checkbox\" id=\"nf-required\" name=\"required\"") +
         checked("required") +
         "> <label for=\"nf-required\" class=\"inline-label\">Required</label></p>"
         "<label for=\"nf-min\">Min <span class=\"muted\">(text length or number)</span></label>"
         "<input id=\"nf-min\" name=\"min\" type=\"number\" step=\"any\" value=\"" +
         Escape(text("min")) +
         "\">"
         "<label for=\"nf-max\">Max <span class=\"muted\">(text length or number)</span></label>"
         "<input id=\"nf-max\" name=\"max\" type=\"number\" step=\"any\" value=\"" +
         Escape(text("max")) +
         "\">"
         "<p><input type=\"checkbox\" id=\"nf-int\" name=\"onlyInt\"" +
         checked("onlyInt") +
         "> <label for=\"nf-int\" class=\"inline-label\">Whole numbers only</label></p>"
         "<label for=\"nf-values\">Choices <span class=\"muted\">(select: separated by "
         "commas)</span></label>"
         "<input id=\"nf-values\" name=\"values\" type=\"text\" value=\"" +
         Escape(text("values")) +
         "\">"
         "<label for=\"nf-collection\">Related collection <span "
         "class=\"muted\">(relation)</span></label>"
         "<input id=\"nf-collection\" name=\"collection\" type=\"text\" value=\"" +
         Escape(text("collection")) +
         "\">"
         "<label for=\"nf-maxselect\">Max choices <span class=\"muted\">(select, relation, file; "
         "above 1 makes a "
         "list)</span></label><input id=\"nf-maxselect\" name=\"maxSelect\" type=\"number\" "
         "min=\"1\" step=\"1\" value=\"" +
         Escape(text("maxSelect")) + "\">";
}

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

class DataPages : public std::enable_shared_from_this<DataPages> {
 public:
  DataPages(PageContext ctx, std::string site) : ctx_(std::move(ctx)), site_(std::move(site)) {}

  void Get(const std::vector<std::string>& seg) {
    if (seg.empty()) return Collections();
    if (seg.size() == 1 && seg[0] == "live") return LiveStream();
    if (seg.size() == 1) return Schema(seg[0]);
    if (seg.size() == 2 && seg[1] == "records") return Records(seg[0]);
    if (seg.size() == 3 && seg[1] == "records")
      return RecordPage(seg[0], seg[2] == "new" ? "" : seg[2]);
    if (seg.size() == 3 && seg[1] == "fields") return FieldPage(seg[0], seg[2]);
    NotFound();
  }

  void Post(const std::vector<std::string>& seg, const Form& form) {
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

 private:
  std::string ControlPath(const std::string& collection = "") const {
    return "/_hearth/api/sites/" + UrlEncode(site_) + "/collections" +
           (collection.empty() ? "" : "/" + UrlEncode(collection));
  }

  void NotFound() {
    Html(*ctx_.res, 404,
         RenderPage(Page("Not found", "sites", ctx_.session.csrf),
                    Breadcrumbs(site_) + "<h1>Not found</h1><p>No such page.</p>"));
  }

  void Failed(Response& out, int status, const std::string& title, const std::string& message,
              const std::string& collection = "") {
    Html(out, status >= 400 ? status : 500,
         RenderPage(Page(title, "sites", ctx_.session.csrf, message, true),
                    Breadcrumbs(site_, collection) + "<h1>" + Escape(title) + "</h1>"));
  }

  void Collections() {
    std::string csrf = ctx_.session.csrf, site = site_;
    CallApi(
        *ctx_.api, Method::kGet, ControlPath(), "", *ctx_.res,
        [this, self = shared_from_this(), csrf, site](int status, const json& body, Response& out) {
          if (status != 200) return Failed(out, status, "Data", ApiError(status, body));
          std::string h = Breadcrumbs(site) + "<h1>Data of " + Escape(site) + "</h1>";
          h += LiveRegion(ctx_, site, "@schema");
          const json items = body.value("items", json::array());
          h += "<div data-region=\"collections\">";
          if (items.empty()) {
            h += "<div class=\"card\"><p>No collections yet: create the first one below.</p></div>";
          } else {
            h += "<table><thead><tr><th scope=\"col\">Collection</th><th "
                 "scope=\"col\">Type</th><th scope=\"col\">Fields</th>"
                 "<th scope=\"col\">Schema</th></tr></thead><tbody>";
            for (const auto& c : items) {
              std::string name = c.value("name", "");
              h += "<tr><td><a href=\"" + Base(site) + "/" + UrlEncode(name) + "/records\">" +
                   Escape(name) + "</a></td><td>" + Escape(c.value("type", "")) + "</td><td>" +
                   std::to_string(UserFields(c).size()) + "</td><td><a href=\"" + Base(site) + "/" +
                   UrlEncode(name) + "\">Fields and rules<span class=\"skip\"> of " + Escape(name) +
                   "</span></a></td></tr>";
            }
            h += "</tbody></table>";
          }
          h += "</div>";
          h += "<h2 id=\"new-collection\">New collection</h2><form method=\"post\" action=\"" +
               Base(site) +
               "\" class=\"card\" aria-labelledby=\"new-collection\"><input type=\"hidden\" "
               "name=\"csrf\" value=\"" +
               Escape(csrf) +
               "\"><label for=\"c-name\">Name</label><input id=\"c-name\" name=\"name\" "
               "type=\"text\" required "
               "pattern=\"[A-Za-z_][A-Za-z0-9_]*\" aria-describedby=\"c-name-hint\"><p "
               "class=\"hint\" id=\"c-name-hint\">Letters, "
               "digits and _; it becomes a table and the API's path.</p><label "
               "for=\"c-type\">Type</label><select id=\"c-type\" "
               "name=\"type\"><option value=\"base\">base (records)</option><option "
               "value=\"auth\">auth (accounts that sign in)"
               "</option></select><p><button type=\"submit\">Create collection</button></p></form>";
          Html(out, 200, RenderPage(Page("Data · " + site, "sites", csrf), h));
        });
  }

  void CreateCollection(const Form& form) {
    std::string name(TrimOws(FormValue(form, "name")));
    std::string type = FormValue(form, "type") == "auth" ? "auth" : "base";
    std::string site = site_;
    CallApi(
        *ctx_.api, Method::kPost, ControlPath(),
        json{{"name", name}, {"type", type}, {"fields", json::array()}}.dump(), *ctx_.res,
        [this, self = shared_from_this(), site, name](int status, const json& body, Response& out) {
          if (status / 100 != 2)
            return Failed(out, status, "Collection not created", ApiError(status, body));
          SeeOther(out, Base(site) + "/" + UrlEncode(name) + "?done=created");
        });
  }

  void Schema(const std::string& collection) {
    Form query;
    (void)ParseQueryString(ctx_.req->query, &query);
    std::string done = FormValue(query, "done");
    std::string flash = done == "created"  ? "Collection created: now give it fields."
                        : done == "fields" ? "Fields saved."
                        : done == "rules"  ? "Rules saved."
                                           : "";
    std::string csrf = ctx_.session.csrf, site = site_;
    CallApi(
        *ctx_.api, Method::kGet, ControlPath(collection), "", *ctx_.res,
        [this, self = shared_from_this(), csrf, site, collection, flash](
            int status, const json& def, Response& out) {
          if (status != 200) return Failed(out, status, collection, ApiError(status, def));
          std::string base = Base(site) + "/" + UrlEncode(collection);
          std::string h = Breadcrumbs(site, collection) + "<h1>" + Escape(collection) +
                          ": fields and rules</h1>";
          h += LiveRegion(ctx_, site, "@schema");
          h += "<p><a href=\"" + base + "/records\">Records of " + Escape(collection) + "</a></p>";
          h += "<div data-region=\"fields\"><h2 id=\"fields\">Fields</h2>";
          json fields = UserFields(def);
          if (fields.empty()) {
            h += "<div class=\"card\"><p>No fields yet.</p></div>";
          } else {
            h += "<table aria-labelledby=\"fields\"><thead><tr><th scope=\"col\">Field</th><th "
                 "scope=\"col\">Type</th>"
                 "<th scope=\"col\">Required</th><th scope=\"col\">Options</th><th "
                 "scope=\"col\"><span class=\"skip\">"
                 "Actions</span></th></tr></thead><tbody>";
            for (const auto& f : fields) {
              std::string name = f.value("name", "");
              h += "<tr><td>" + Escape(name) + "</td><td>" + Escape(f.value("type", "")) +
                   "</td><td>" + (f.value("required", false) ? "yes" : "no") + "</td><td>" +
                   Escape(FieldSummary(f)) + "</td><td>" + "<a href=\"" + base + "/fields/" +
                   UrlEncode(name) + "\">Change " + Escape(name) + "</a> " +
                   ButtonForm(base + "/fields/remove", csrf, "Remove " + name, {{"field", name}},
                              "secondary") +
                   "</td></tr>";
            }
            h += "</tbody></table>";
          }
          h += "</div>";
          // Add a field: every option in one form; those that do not apply to the type are ignored.
          h += "<h2 id=\"add-field\">Add a field</h2><form method=\"post\" action=\"" + base +
               "/fields\" class=\"card\" aria-labelledby=\"add-field\"><input type=\"hidden\" "
               "name=\"csrf\" value=\"" +
               Escape(csrf) +
               "\"><label for=\"nf-name\">Name</label><input id=\"nf-name\" name=\"name\" "
               "type=\"text\" "
               "required><label for=\"nf-type\">Type</label><select id=\"nf-type\" name=\"type\">";
          for (const char* t : kTypes) h += std::string("<option>") + t + "</option>";
          h += "</select>" + FieldOptions(json::object());
          h += "<p><button type=\"submit\">Add field</button></p></form>";
          // Rules: a filter each, or locked (superusers only).
          h += "<h2 id=\"rules\">Rules</h2><form method=\"post\" action=\"" + base +
               "/rules\" class=\"card\" aria-labelledby=\"rules\"><input type=\"hidden\" "
               "name=\"csrf\" value=\"" +
               Escape(csrf) +
               "\"><p class=\"hint\">Empty: everyone. A filter: records that match it. Locked: "
               "superusers only.</p>";
          for (const char* r : kRules) {
            bool locked = def[r].is_null();
            std::string value = def[r].is_string() ? def[r].get<std::string>() : "";
            h += "<label for=\"r-" + std::string(r) + "\">" + r + "</label><input id=\"r-" +
                 std::string(r) + "\" name=\"" + r + "\" type=\"text\" value=\"" + Escape(value) +
                 "\"><p><input type=\"checkbox\" id=\"r-" + r + "-locked\" name=\"" + r +
                 "_locked\"" + (locked ? " checked" : "") + "> <label for=\"r-" + r +
                 "-locked\" class=\"inline-label\">Locked</label></p>";
          }
          h += "<p><button type=\"submit\">Save rules</button></p></form>";
          h += "<h2>Delete</h2><div class=\"card\"><p>Drops the collection and all its "
               "records.</p>" +
               ButtonForm(base + "/delete", csrf, "Delete " + collection) + "</div>";
          Html(out, 200, RenderPage(Page(collection + " · fields", "sites", csrf, flash), h));
        });
  }

  void ChangeFields(const std::string& collection, const Form& form, bool remove) {
    std::string site = site_;
    json added;
    if (!remove) {
      std::string error = FieldFromForm(form, &added);
      if (!error.empty()) return Failed(*ctx_.res, 400, "Field not added", error, collection);
    }
    std::string gone = FormValue(form, "field");
    // The API replaces the whole list: read it, change it, send it back.
    CallApi(
        *ctx_.api, Method::kGet, ControlPath(collection), "", *ctx_.res,
        [this, self = shared_from_this(), site, collection, remove, added, gone](
            int status, const json& def, Response& page) {
          if (status != 200)
            return Failed(page, status, "Fields not changed", ApiError(status, def), collection);
          json fields = json::array();
          for (const auto& f : UserFields(def))
            if (!remove || f.value("name", "") != gone) fields.push_back(f);
          if (!remove) fields.push_back(added);
          CallApi(*ctx_.api, Method::kPatch, ControlPath(collection),
                  json{{"fields", fields}}.dump(), page,
                  [this, self = shared_from_this(), site, collection](int st, const json& body,
                                                                      Response& out) {
                    if (st / 100 != 2)
                      return Failed(out, st, "Fields not changed", ApiError(st, body), collection);
                    SeeOther(out, Base(site) + "/" + UrlEncode(collection) + "?done=fields");
                  });
        });
  }

  void FieldPage(const std::string& collection, const std::string& field) {
    std::string csrf = ctx_.session.csrf, site = site_;
    CallApi(*ctx_.api, Method::kGet, ControlPath(collection), "", *ctx_.res,
            [this, self = shared_from_this(), csrf, site, collection, field](
                int status, const json& def, Response& out) {
              if (status != 200) return Failed(out, status, collection, ApiError(status, def));
              for (const auto& f : UserFields(def)) {
                if (f.value("name", "") != field) continue;
                std::string base = Base(site) + "/" + UrlEncode(collection);
                std::string h = Breadcrumbs(site, collection) + "<h1>Change " + Escape(field) +
                                "</h1>" + "<p>Type: " + Escape(f.value("type", "")) +
                                " <span class=\"muted\">(a field's type "
                                "cannot change: remove it and add another)</span></p><form "
                                "method=\"post\" action=\"" +
                                base + "/fields/" + UrlEncode(field) +
                                "\" class=\"card\"><input type=\"hidden\" "
                                "name=\"csrf\" value=\"" +
                                Escape(csrf) + "\">" + FieldOptions(f) +
                                "<p><button type=\"submit\">Save field</button></p></form>";
                return Html(out, 200, RenderPage(Page("Change " + field, "sites", csrf), h));
              }
              Failed(out, 404, collection, "No field named " + field + ".", collection);
            });
  }

  void EditField(const std::string& collection, const std::string& field, const Form& form) {
    std::string site = site_;
    CallApi(*ctx_.api, Method::kGet, ControlPath(collection), "", *ctx_.res,
            [this, self = shared_from_this(), site, collection, field, form](
                int status, const json& def, Response& page) {
              if (status != 200)
                return Failed(page, status, "Field not changed", ApiError(status, def), collection);
              json fields = json::array();
              bool found = false;
              for (const auto& f : UserFields(def)) {
                if (f.value("name", "") != field) {
                  fields.push_back(f);
                  continue;
                }
                json changed = f;
                if (std::string error = FieldFromForm(form, &changed); !error.empty())
                  return Failed(page, 400, "Field not changed", error, collection);
                fields.push_back(changed);
                found = true;
              }
              if (!found)
                return Failed(page, 404, "Field not changed", "No field named " + field + ".",
                              collection);
              CallApi(*ctx_.api, Method::kPatch, ControlPath(collection),
                      json{{"fields", fields}}.dump(), page,
                      [this, self, site, collection](int st, const json& body, Response& out) {
                        if (st / 100 != 2)
                          return Failed(out, st, "Field not changed", ApiError(st, body),
                                        collection);
                        SeeOther(out, Base(site) + "/" + UrlEncode(collection) + "?done=fields");
                      });
            });
  }

  void SetRules(const std::string& collection, const Form& form) {
    json patch = json::object();
    for (const char* r : kRules)
      patch[r] = FormValue(form, std::string(r) + "_locked") == "on" ? json(nullptr)
                                                                     : json(FormValue(form, r));
    std::string site = site_;
    CallApi(*ctx_.api, Method::kPatch, ControlPath(collection), patch.dump(), *ctx_.res,
            [this, self = shared_from_this(), site, collection](int status, const json& body,
                                                                Response& out) {
              if (status / 100 != 2)
                return Failed(out, status, "Rules not saved", ApiError(status, body), collection);
              SeeOther(out, Base(site) + "/" + UrlEncode(collection) + "?done=rules");
            });
  }

  void DeleteCollection(const std::string& collection) {
    std::string site = site_;
    CallApi(*ctx_.api, Method::kDelete, ControlPath(collection), "", *ctx_.res,
            [this, self = shared_from_this(), site, collection](int status, const json& body,
                                                                Response& out) {
              if (status / 100 != 2)
                return Failed(out, status, "Not deleted", ApiError(status, body), collection);
              SeeOther(out, Base(site));
            });
  }

  void Records(const std::string& collection) {
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
                                 "&perPage=" + std::to_string(kPerPage) +
                                 "&sort=" + UrlEncode(sort) +
                                 (filter.empty() ? "" : "&filter=" + UrlEncode(filter));
              CallApi(AppApi(ctx_.apps, ctx_.reader, site), Method::kGet, path, "", page,
                      [this, self = shared_from_this(), csrf, site, collection, def, page_no, sort,
                       filter](int st, const json& list, Response& out) {
                        RenderRecords(out, csrf, site, collection, def, st, list, page_no, sort,
                                      filter);
                      });
            });
  }

  void RenderRecords(Response& out, const std::string& csrf, const std::string& site,
                     const std::string& collection, const json& def, int status, const json& list,
                     uint64_t page_no, const std::string& sort, const std::string& filter) {
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
    h += "<p><a class=\"button\" href=\"" + base + "/records/new\">New record</a> <a href=\"" +
         base + "\">Fields and rules</a></p>";
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
      h += "<p class=\"flash error\" role=\"alert\">" + Escape(ApiError(status, list)) +
           "</p></div>";
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
      h += "<th scope=\"col\"" + aria + "><a href=\"" + link(1, next) + "\">" + Escape(name) +
           arrow + "</a></th>";
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

  void RecordPage(const std::string& collection, const std::string& id) {
    Form query;
    (void)ParseQueryString(ctx_.req->query, &query);
    std::string flash = FormValue(query, "done") == "saved" ? "Saved." : "";
    std::string csrf = ctx_.session.csrf, site = site_;
    CallApi(*ctx_.api, Method::kGet, ControlPath(collection), "", *ctx_.res,
            [this, self = shared_from_this(), csrf, site, collection, id, flash](
                int status, const json& def, Response& page) {
              if (status != 200) return Failed(page, status, collection, ApiError(status, def));
              if (id.empty())
                return RenderRecord(page, csrf, site, collection, def, json::object(),
                                    json::object(), "", 200);
              CallApi(AppApi(ctx_.apps, ctx_.reader, site), Method::kGet,
                      "/api/collections/" + UrlEncode(collection) + "/records/" + UrlEncode(id), "",
                      page,
                      [this, self = shared_from_this(), csrf, site, collection, def, id, flash](
                          int st, const json& record, Response& out) {
                        if (st != 200)
                          return Failed(out, st, collection, ApiError(st, record), collection);
                        RenderRecord(out, csrf, site, collection, def, record, json::object(),
                                     flash, 200);
                      });
            });
  }

  void RenderRecord(Response& out, const std::string& csrf, const std::string& site,
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

  void SaveRecord(const std::string& collection, const std::string& id, const Form& form) {
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

  void DeleteRecord(const std::string& collection, const std::string& id) {
    std::string site = site_;
    CallApi(AppApi(ctx_.apps, ctx_.reader, site), Method::kDelete,
            "/api/collections/" + UrlEncode(collection) + "/records/" + UrlEncode(id), "",
            *ctx_.res,
            [this, self = shared_from_this(), site, collection](int status, const json& body,
                                                                Response& out) {
              if (status / 100 != 2)
                return Failed(out, status, "Not deleted", ApiError(status, body), collection);
              SeeOther(out, Base(site) + "/" + UrlEncode(collection) + "/records");
            });
  }

  // The realtime stream of the site's app API, as a superuser; the page's
  // script then names its topics (Subscribe).
  void LiveStream() {
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

  void Subscribe(const Form& form) {
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

  // A copy: deferred answers run after the request is gone (req and res
  // are used only before the first callback returns).
  PageContext ctx_;
  std::string site_;
};

}  // namespace

void ServeDataPage(PageContext& ctx, const std::string& site, const std::vector<std::string>& rest,
                   const Form* form) {
  // Deferred answers outlive this call: the pages object lives as long as
  // the last callback that holds it.
  auto pages = std::make_shared<DataPages>(std::move(ctx), site);
  if (form)
    pages->Post(rest, *form);
  else
    pages->Get(rest);
}

}  // namespace hearth::admin

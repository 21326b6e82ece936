// The console's collection pages, under /_hearth/sites/{site}/data: the
// list of a site's collections, a collection's fields (add, edit, remove)
// and its rules, and deleting it. All through the control API's
// /sites/{site}/collections, so its validation applies.
#include <string>
#include <vector>

#include "admin/data_pages_internal.h"
#include "admin/forms.h"
#include "admin/html.h"
#include "admin/loopback.h"
#include "base/json.h"
#include "base/strings.h"

namespace hearth::admin::data_pages {
namespace {

const char* const kTypes[] = {"text", "number", "bool", "email",    "url",
                              "date", "select", "json", "relation", "file"};
const char* const kRules[] = {"listRule", "viewRule", "createRule", "updateRule", "deleteRule"};

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

}  // namespace

void DataPages::Collections() {
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

void DataPages::CreateCollection(const Form& form) {
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

void DataPages::Schema(const std::string& collection) {
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
      [this, self = shared_from_this(), csrf, site, collection, flash](int status, const json& def,
                                                                       Response& out) {
        if (status != 200) return Failed(out, status, collection, ApiError(status, def));
        std::string base = Base(site) + "/" + UrlEncode(collection);
        std::string h =
            Breadcrumbs(site, collection) + "<h1>" + Escape(collection) + ": fields and rules</h1>";
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

void DataPages::ChangeFields(const std::string& collection, const Form& form, bool remove) {
  std::string site = site_;
  json added;
  if (!remove) {
    std::string error = FieldFromForm(form, &added);
    if (!error.empty()) return Failed(*ctx_.res, 400, "Field not added", error, collection);
  }
  std::string gone = FormValue(form, "field");
  // The API replaces the whole list: read it, change it, send it back.
  CallApi(*ctx_.api, Method::kGet, ControlPath(collection), "", *ctx_.res,
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
                        return Failed(out, st, "Fields not changed", ApiError(st, body),
                                      collection);
                      SeeOther(out, Base(site) + "/" + UrlEncode(collection) + "?done=fields");
                    });
          });
}

void DataPages::FieldPage(const std::string& collection, const std::string& field) {
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

void DataPages::EditField(const std::string& collection, const std::string& field,
                          const Form& form) {
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
                        return Failed(out, st, "Field not changed", ApiError(st, body), collection);
                      SeeOther(out, Base(site) + "/" + UrlEncode(collection) + "?done=fields");
                    });
          });
}

void DataPages::SetRules(const std::string& collection, const Form& form) {
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

void DataPages::DeleteCollection(const std::string& collection) {
  std::string site = site_;
  CallApi(*ctx_.api, Method::kDelete, ControlPath(collection), "", *ctx_.res,
          [this, self = shared_from_this(), site, collection](int status, const json& body,
                                                              Response& out) {
            if (status / 100 != 2)
              return Failed(out, status, "Not deleted", ApiError(status, body), collection);
            SeeOther(out, Base(site));
          });
}

}  // namespace hearth::admin::data_pages

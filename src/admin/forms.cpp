#include "admin/forms.h"

#include <algorithm>
#include <cmath>

#include "admin/html.h"
#include "base/json.h"
#include "base/strings.h"

namespace hearth::admin {

using nlohmann::json;

namespace {

const json& PropertyOf(const json& collection, const std::string& name) {
  static const json kEmpty = json::object();
  if (!collection.contains("schema") || !collection["schema"].contains("properties")) return kEmpty;
  const json& props = collection["schema"]["properties"];
  return props.contains(name) ? props[name] : kEmpty;
}

bool IsRequired(const json& collection, const std::string& name) {
  if (!collection.contains("schema") || !collection["schema"].contains("required")) return false;
  for (const auto& r : collection["schema"]["required"])
    if (r.is_string() && r.get<std::string>() == name) return true;
  return false;
}

std::string Attr(std::string_view name, const std::string& value) {
  return " " + std::string(name) + "=\"" + Escape(value) + "\"";
}

std::string NumberText(const json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    double d = v.get<double>();
    if (d == std::floor(d) && std::fabs(d) < 9e15) return std::to_string(static_cast<int64_t>(d));
    return json(d).dump();
  }
  return "";
}

// The value shown in a text-like input.
std::string ValueText(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return NumberText(v);
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();
}

std::string Kind(const json& field, const json& prop) {
  std::string type = field.value("type", "");
  if (type == "password") return "password";
  if (prop.value("x-type", "") != "") return prop.value("x-type", "");
  if (prop.value("type", "") == "boolean") return "bool";
  if (prop.value("format", "") == "email") return "email";
  return type;
}

}  // namespace

bool ShownInForm(const json& field) {
  std::string name = field.value("name", "");
  if (!field.value("system", false)) return true;
  return name == "email" || name == "emailVisibility" || name == "verified" || name == "password";
}

std::string RecordForm(const json& collection, const json& record, const json& errors,
                       const std::string& action, const std::string& csrf,
                       const std::string& submit_label, bool is_new) {
  bool has_files = false;
  for (const auto& f : collection.value("fields", json::array()))
    has_files |= f.value("type", "") == "file";
  std::string h = "<form method=\"post\" action=\"" + Escape(action) +
                  "\" class=\"card record-form\" novalidate" +
                  std::string(has_files ? " enctype=\"multipart/form-data\"" : "") + ">";
  h += "<input type=\"hidden\" name=\"csrf\" value=\"" + Escape(csrf) + "\">";
  // The schema version the form was made from: a reload after a schema
  // change shows the new form.
  if (collection.contains("schema") && collection["schema"].contains("x-schema-version"))
    h += "<input type=\"hidden\" name=\"_schema\" value=\"" +
         Escape(NumberText(collection["schema"]["x-schema-version"])) + "\">";
  const json fields = collection.value("fields", json::array());
  for (const auto& f : fields) {
    if (!ShownInForm(f)) continue;
    std::string name = f.value("name", "");
    const json& prop = PropertyOf(collection, name);
    std::string kind = Kind(f, prop);
    bool required = IsRequired(collection, name) || (kind == "password" && is_new);
    std::string id = "f-" + name;
    // Inputs are named "f.<field>": a field called "csrf" cannot take the
    // form's own token (nor the reverse).
    std::string input_name = "f." + name;
    const json value = record.is_object() && record.contains(name) ? record[name] : json(nullptr);
    std::string error;
    if (errors.is_object() && errors.contains(name)) {
      const json& e = errors[name];
      error = e.is_object() && e.contains("message") && e["message"].is_string()
                  ? e["message"].get<std::string>()
                  : "Invalid value.";
    }
    std::string described =
        error.empty() ? "" : Attr("aria-describedby", id + "-error") + " aria-invalid=\"true\"";
    std::string label = "<label for=\"" + Escape(id) + "\">" + Escape(name) +
                        (required ? " <span class=\"muted\">(required)</span>" : "") + "</label>";
    std::string input;
    bool multi = prop.value("type", "") == "array";
    if (kind == "bool") {
      input = "<p><input type=\"checkbox\"" + Attr("id", id) + Attr("name", input_name) +
              " value=\"true\"" + (value.is_boolean() && value.get<bool>() ? " checked" : "") +
              described + "> <label for=\"" + Escape(id) + "\" class=\"inline-label strong\">" +
              Escape(name) + "</label></p>";
      label.clear();
    } else if (kind == "select") {
      const json& item = multi ? prop["items"] : prop;
      std::vector<std::string> chosen;
      if (value.is_string()) chosen.push_back(value.get<std::string>());
      if (value.is_array())
        for (const auto& v : value)
          if (v.is_string()) chosen.push_back(v.get<std::string>());
      auto is_chosen = [&](const std::string& v) {
        return std::find(chosen.begin(), chosen.end(), v) != chosen.end();
      };
      if (multi) {
        // A group of checkboxes: every choice visible, each with its label.
        input = "<fieldset" + Attr("id", id) + described + "><legend>" + Escape(name) + "</legend>";
        int k = 0;
        for (const auto& v : item.value("enum", json::array())) {
          std::string opt = v.get<std::string>();
          std::string oid = id + "-" + std::to_string(k++);
          input += "<label class=\"inline-label choice\"><input type=\"checkbox\"" +
                   Attr("id", oid) + Attr("name", input_name) + Attr("value", opt) +
                   (is_chosen(opt) ? " checked" : "") + "> " + Escape(opt) + "</label>";
        }
        input += "</fieldset>";
        label.clear();
      } else {
        input = "<select" + Attr("id", id) + Attr("name", input_name) + described +
                (required ? " required" : "") + ">";
        input += "<option value=\"\">(none)</option>";
        for (const auto& v : item.value("enum", json::array())) {
          std::string opt = v.get<std::string>();
          input += "<option" + Attr("value", opt) + (is_chosen(opt) ? " selected" : "") + ">" +
                   Escape(opt) + "</option>";
        }
        input += "</select>";
      }
    } else if (kind == "json") {
      std::string text = value.is_null() ? "" : value.dump(2);
      input = "<textarea rows=\"4\"" + Attr("id", id) + Attr("name", input_name) + described + ">" +
              Escape(text) + "</textarea>" + "<p class=\"hint\">JSON.</p>";
    } else if (kind == "file") {
      // The record's files, each with a box to remove it, then a file input:
      // a single-file field's new file replaces the old, a multi-file
      // field's are added to the list.
      std::vector<std::string> names;
      if (value.is_string() && !value.get<std::string>().empty())
        names.push_back(value.get<std::string>());
      if (value.is_array())
        for (const auto& v : value)
          if (v.is_string()) names.push_back(v.get<std::string>());
      input = "<fieldset" + Attr("id", id + "-files") + "><legend>" + Escape(name) +
              (required ? " <span class=\"muted\">(required)</span>" : "") + "</legend>";
      if (names.empty()) input += "<p class=\"muted\">No file yet.</p>";
      int k = 0;
      for (const auto& n : names) {
        std::string rid = id + "-rm-" + std::to_string(k++);
        input += "<p class=\"file-name\"><code>" + Escape(n) +
                 "</code> <label class=\"inline-label\"><input type=\"checkbox\"" +
                 Attr("id", rid) + Attr("name", input_name + "-") + Attr("value", n) +
                 "> Remove<span class=\"skip\"> " + Escape(n) + "</span></label></p>";
      }
      std::string accept;
      for (const auto& m : f.value("mimeTypes", json::array()))
        if (m.is_string()) accept += (accept.empty() ? "" : ",") + m.get<std::string>();
      std::string hint = multi ? "Files chosen here are added to the list."
                               : "A file chosen here replaces the current one.";
      if (f.contains("maxSize") && f["maxSize"].is_number_integer() &&
          f["maxSize"].get<int64_t>() > 0)
        hint += " At most " + SizeText(f["maxSize"].get<int64_t>()) + " each.";
      if (!accept.empty()) hint += " Types: " + accept + ".";
      input += "<label" + Attr("for", id) + ">" +
               std::string(names.empty() ? "Upload"
                           : multi       ? "Add files"
                                         : "Replace with") +
               "</label><input type=\"file\"" + Attr("id", id) + Attr("name", input_name) +
               (multi ? " multiple" : "") + (accept.empty() ? "" : Attr("accept", accept)) +
               Attr("aria-describedby", id + "-hint" + (error.empty() ? "" : " " + id + "-error")) +
               (error.empty() ? "" : " aria-invalid=\"true\"") + "><p class=\"hint\"" +
               Attr("id", id + "-hint") + ">" + Escape(hint) + "</p></fieldset>";
      label.clear();
    } else {
      std::string type = "text";
      std::string extra;
      if (kind == "email") type = "email";
      if (kind == "url") type = "url";
      if (kind == "password") {
        type = "password";
        extra += " autocomplete=\"new-password\"";
      }
      if (kind == "number") {
        type = "number";
        extra += prop.value("type", "") == "integer" ? " step=\"1\"" : " step=\"any\"";
        if (prop.contains("minimum")) extra += Attr("min", NumberText(prop["minimum"]));
        if (prop.contains("maximum")) extra += Attr("max", NumberText(prop["maximum"]));
      }
      if (prop.contains("maxLength")) extra += Attr("maxlength", NumberText(prop["maxLength"]));
      if (prop.contains("minLength")) extra += Attr("minlength", NumberText(prop["minLength"]));
      std::string shown =
          kind == "password" ? "" : ValueText(multi && value.is_array() ? json(nullptr) : value);
      if (multi && value.is_array())
        for (const auto& v : value) shown += (shown.empty() ? "" : ", ") + ValueText(v);
      input = "<input" + Attr("type", type) + Attr("id", id) + Attr("name", input_name) +
              Attr("value", shown) + extra + described + (required ? " required" : "") + ">";
      if (kind == "relation")
        input += "<p class=\"hint\">Record id" +
                 std::string(multi ? "s, separated by commas" : "") + " in " +
                 Escape(prop.contains("items") ? prop["items"].value("x-relation", "")
                                               : prop.value("x-relation", "")) +
                 ".</p>";
      if (kind == "date") input += "<p class=\"hint\">As 2026-01-31 12:00:00.000Z</p>";
      if (kind == "password" && !is_new)
        input += "<p class=\"hint\">Leave empty to keep the password.</p>";
    }
    h += "<div class=\"field\">" + label + input;
    if (!error.empty())
      h += "<p class=\"field-error\"" + Attr("id", id + "-error") + ">" + Escape(error) + "</p>";
    h += "</div>";
  }
  h += "<p><button type=\"submit\">" + Escape(submit_label) + "</button></p></form>";
  return h;
}

json FormToRecord(const json& collection, const Form& form, bool is_new, json* errors) {
  json out = json::object();
  const json fields = collection.value("fields", json::array());
  auto fail = [&](const std::string& name, const std::string& message) {
    (*errors)[name] = {{"code", "validation_invalid"}, {"message", message}};
  };
  for (const auto& f : fields) {
    if (!ShownInForm(f)) continue;
    std::string name = f.value("name", "");
    const json& prop = PropertyOf(collection, name);
    std::string kind = Kind(f, prop);
    bool multi = prop.value("type", "") == "array";
    std::vector<std::string> values = FormValues(form, "f." + name);
    std::string text = values.empty() ? "" : values[0];
    if (kind == "file") {
      // Files come as parts of their own (see the records page); here only
      // the names ticked for removal, as the API's "field-" key.
      json gone = json::array();
      for (const auto& n : FormValues(form, "f." + name + "-"))
        if (!n.empty()) gone.push_back(n);
      if (!gone.empty()) out[name + "-"] = gone;
      continue;
    }
    if (kind == "bool") {
      out[name] = !values.empty() && text == "true";
    } else if (kind == "password") {
      if (text.empty() && !is_new) continue;
      out["password"] = text;
      out["passwordConfirm"] = text;
    } else if (kind == "number") {
      if (TrimOws(text).empty()) {
        out[name] = nullptr;
        continue;
      }
      json n = ParseJson(TrimOws(text)).value_or(json());
      if (!n.is_number()) {
        fail(name, "Must be a number.");
        continue;
      }
      out[name] = n;
    } else if (kind == "json") {
      if (TrimOws(text).empty()) {
        out[name] = nullptr;
        continue;
      }
      auto parsed = ParseJson(text);
      if (!parsed.ok()) {
        fail(name, "Must be valid JSON: " + parsed.error().message);
        continue;
      }
      out[name] = std::move(parsed).value();
    } else if (multi) {
      json list = json::array();
      if (kind == "select") {
        for (const auto& v : values)
          if (!v.empty()) list.push_back(v);
      } else {
        for (auto& item : CommaList(text)) list.push_back(std::move(item));
      }
      out[name] = list;
    } else {
      out[name] = kind == "text" ? text : std::string(TrimOws(text));
    }
  }
  return out;
}

}  // namespace hearth::admin

// A collection's definition: parsed and checked from the API's JSON
// (ParseCollection), and rendered back in the same shape (CollectionJson).
#include <cmath>
#include <set>

#include "data/schema.h"
#include "data/schema_internal.h"

namespace hearth::data {
namespace {

using nlohmann::json;
using namespace schema_internal;

constexpr size_t kMaxFields = 200;
constexpr size_t kMaxNameLength = 63;
constexpr size_t kMaxRuleLength = 4096;

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

std::optional<std::string> OptionalRule(const json& body, const char* key, Status* st) {
  if (!body.contains(key) || body[key].is_null()) return std::nullopt;
  if (!body[key].is_string()) {
    *st = Error{std::string(key) + " must be a string or null"};
    return std::nullopt;
  }
  std::string rule = body[key].get<std::string>();
  if (rule.size() > kMaxRuleLength) {
    *st = Error{std::string(key) + " is longer than 4 KiB"};
    return std::nullopt;
  }
  if (!rule.empty()) {
    auto parsed = ParseFilter(rule);
    if (!parsed.ok()) *st = Error{std::string(key) + ": " + parsed.error().message};
  }
  return rule;
}

}  // namespace

Result<Collection> ParseCollection(const json& body, const Schema& schema,
                                   const Collection* existing) {
  if (!body.is_object()) return Error{"a collection is a JSON object"};
  static const std::set<std::string, std::less<>> kKeys = {
      "id",       "name",       "type",       "fields",     "listRule",
      "viewRule", "createRule", "updateRule", "deleteRule", "system"};
  for (auto it = body.begin(); it != body.end(); ++it)
    if (!kKeys.count(it.key())) return Error{"unknown key \"" + it.key() + "\" in the collection"};
  Collection c;
  if (existing) c = *existing;
  if (body.contains("name")) {
    if (!body["name"].is_string()) return Error{"name must be a string"};
    std::string name = body["name"].get<std::string>();
    if (existing && name != existing->name) return Error{"a collection cannot be renamed (yet)"};
    c.name = name;
  } else if (!existing) {
    return Error{"name is required"};
  }
  if (!IsIdentifier(c.name))
    return Error{"collection name \"" + c.name +
                 "\" must start with a letter and hold only letters, digits and _ (at most 63)"};
  std::string lower;
  for (char ch : c.name)
    lower.push_back(static_cast<char>(tolower(static_cast<unsigned char>(ch))));
  if (lower.rfind("sqlite_", 0) == 0)
    return Error{"collection names starting with sqlite_ are reserved"};
  if (!existing && schema.Find(c.name))
    return Error{"a collection named " + c.name + " already exists"};
  if (!existing)
    for (const auto& [n, other] : schema.collections)
      if (strcasecmp(n.c_str(), c.name.c_str()) == 0)
        return Error{"a collection named " + n + " already exists"};
  if (body.contains("type")) {
    if (!body["type"].is_string()) return Error{"type must be a string"};
    std::string type = body["type"].get<std::string>();
    if (type != "base" && type != "auth") return Error{"type must be \"base\" or \"auth\""};
    if (existing && type != existing->type) return Error{"a collection's type cannot change"};
    c.type = type;
  }
  if (!existing) c.id = "pbc_" + RandomChars(11);
  if (body.contains("fields")) {
    const json& fields = body["fields"];
    if (!fields.is_array()) return Error{"fields must be an array"};
    if (fields.size() > kMaxFields) return Error{"at most 200 fields"};
    c.fields.clear();
    std::set<std::string> seen;
    for (const json& fj : fields) {
      if (!fj.is_object()) return Error{"each field is a JSON object"};
      static const std::set<std::string, std::less<>> kFieldKeys = {
          "id",         "name",      "type",      "required",    "min",
          "max",        "onlyInt",   "values",    "maxSelect",   "collectionId",
          "collection", "system",    "hidden",    "presentable", "primaryKey",
          "maxSize",    "mimeTypes", "protected", "thumbs"};
      for (auto it = fj.begin(); it != fj.end(); ++it)
        if (!kFieldKeys.count(it.key()))
          return Error{"unknown key \"" + it.key() + "\" in a field"};
      Field f;
      if (!fj.contains("name") || !fj["name"].is_string()) return Error{"every field needs a name"};
      f.name = fj["name"].get<std::string>();
      if (!IsIdentifier(f.name))
        return Error{"field name \"" + f.name +
                     "\" must start with a letter and hold only letters, digits and _"};
      if (kSystemFields.count(f.name) || (c.IsAuth() && kAuthFields.count(f.name))) {
        // PocketBase lists id/created/updated (and an auth collection's own
        // fields) among the fields: accept them as they are.
        continue;
      }
      if (kAuthFields.count(f.name))
        return Error{"field name " + f.name + " is kept for auth collections"};
      std::string lf;
      for (char ch : f.name)
        lf.push_back(static_cast<char>(tolower(static_cast<unsigned char>(ch))));
      if (!seen.insert(lf).second) return Error{"field " + f.name + " appears twice"};
      if (!fj.contains("type") || !fj["type"].is_string())
        return Error{"field " + f.name + " needs a type"};
      std::string type = fj["type"].get<std::string>();
      bool known = false;
      for (const auto& tn : kTypes)
        if (type == tn.name) {
          f.type = tn.type;
          known = true;
        }
      if (type == "autodate") continue;  // created/updated: always there
      if (!known) return Error{"field " + f.name + ": unknown type \"" + type + "\""};
      if (fj.contains("required")) {
        if (!fj["required"].is_boolean())
          return Error{"field " + f.name + ": required must be true or false"};
        f.required = fj["required"].get<bool>();
      }
      for (const char* k : {"min", "max"}) {
        if (!fj.contains(k) || fj[k].is_null()) continue;
        if (!fj[k].is_number()) return Error{"field " + f.name + ": " + k + " must be a number"};
        (std::string(k) == "min" ? f.min : f.max) = fj[k].get<double>();
      }
      if (f.min && f.max && *f.min > *f.max) return Error{"field " + f.name + ": min is above max"};
      if (fj.contains("onlyInt")) {
        if (!fj["onlyInt"].is_boolean())
          return Error{"field " + f.name + ": onlyInt must be true or false"};
        f.only_int = fj["onlyInt"].get<bool>();
      }
      if (fj.contains("maxSelect") && !fj["maxSelect"].is_null()) {
        if (!fj["maxSelect"].is_number_integer() || fj["maxSelect"].get<int64_t>() < 1 ||
            fj["maxSelect"].get<int64_t>() > 1000)
          return Error{"field " + f.name + ": maxSelect must be a whole number from 1 to 1000"};
        f.max_select = static_cast<int>(fj["maxSelect"].get<int64_t>());
      }
      if (f.type == FieldType::kSelect) {
        if (!fj.contains("values") || !fj["values"].is_array() || fj["values"].empty())
          return Error{"field " + f.name + ": a select needs values"};
        for (const json& v : fj["values"]) {
          if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>().size() > 255)
            return Error{"field " + f.name + ": values must be non-empty strings"};
          f.values.push_back(v.get<std::string>());
        }
      }
      if (f.type == FieldType::kFile) {
        if (fj.contains("maxSize") && !fj["maxSize"].is_null()) {
          // 0 is the default (as PocketBase exports it); at most 1 GiB, what a
          // backup can carry as one piece.
          if (!fj["maxSize"].is_number_integer() || fj["maxSize"].get<int64_t>() < 0 ||
              fj["maxSize"].get<int64_t>() > (int64_t{1} << 30))
            return Error{"field " + f.name +
                         ": maxSize must be a whole number of bytes up to 1 GiB (0: 5 MiB)"};
          if (fj["maxSize"].get<int64_t>() > 0)
            f.max_size = static_cast<uint64_t>(fj["maxSize"].get<int64_t>());
        }
        if (fj.contains("mimeTypes") && !fj["mimeTypes"].is_null()) {
          if (!fj["mimeTypes"].is_array())
            return Error{"field " + f.name + ": mimeTypes must be a list"};
          for (const json& m : fj["mimeTypes"]) {
            if (!m.is_string() || m.get<std::string>().empty() || m.get<std::string>().size() > 255)
              return Error{"field " + f.name + ": mimeTypes must be media types such as image/png"};
            f.mime_types.push_back(m.get<std::string>());
          }
        }
        if (fj.contains("thumbs") && !fj["thumbs"].is_null()) {
          if (!fj["thumbs"].is_array())
            return Error{"field " + f.name + ": thumbs must be a list of sizes"};
          for (const json& t : fj["thumbs"]) {
            if (!t.is_string() || t.get<std::string>().empty() || t.get<std::string>().size() > 20)
              return Error{"field " + f.name + ": thumbs must be sizes such as 100x100"};
            f.thumbs.push_back(t.get<std::string>());
          }
        }
        if (fj.contains("protected") && !fj["protected"].is_null()) {
          if (!fj["protected"].is_boolean())
            return Error{"field " + f.name + ": protected must be true or false"};
          f.protected_files = fj["protected"].get<bool>();
        }
      }
      if (f.type == FieldType::kRelation) {
        std::string target;
        if (fj.contains("collectionId") && fj["collectionId"].is_string()) {
          std::string id = fj["collectionId"].get<std::string>();
          for (const auto& [n, other] : schema.collections)
            if (other.id == id) target = n;
          if (id == c.id) target = c.name;
          if (target.empty()) target = id;  // a name given as the id
        } else if (fj.contains("collection") && fj["collection"].is_string()) {
          target = fj["collection"].get<std::string>();
        } else {
          return Error{"field " + f.name + ": a relation needs collectionId (or collection)"};
        }
        if (target != c.name && !schema.Find(target))
          return Error{"field " + f.name + ": no collection " + target + " to relate to"};
        f.collection = target;
      }
      c.fields.push_back(std::move(f));
    }
  }
  Status st = OkStatus();
  if (body.contains("listRule") || !existing) c.list_rule = OptionalRule(body, "listRule", &st);
  if (body.contains("viewRule") || !existing) c.view_rule = OptionalRule(body, "viewRule", &st);
  if (body.contains("createRule") || !existing)
    c.create_rule = OptionalRule(body, "createRule", &st);
  if (body.contains("updateRule") || !existing)
    c.update_rule = OptionalRule(body, "updateRule", &st);
  if (body.contains("deleteRule") || !existing)
    c.delete_rule = OptionalRule(body, "deleteRule", &st);
  if (!st.ok()) return st.error();
  return c;
}

json CollectionJson(const Collection& c) {
  json fields = json::array();
  fields.push_back({{"name", "id"},
                    {"type", "text"},
                    {"system", true},
                    {"required", true},
                    {"primaryKey", true}});
  for (const auto& f : c.fields) {
    json fj = {
        {"name", f.name}, {"type", TypeText(f.type)}, {"required", f.required}, {"system", false}};
    auto number = [](double d) {
      return d == std::floor(d) && std::fabs(d) < 9e15 ? json(static_cast<int64_t>(d)) : json(d);
    };
    if (f.min) fj["min"] = number(*f.min);
    if (f.max) fj["max"] = number(*f.max);
    if (f.type == FieldType::kNumber) fj["onlyInt"] = f.only_int;
    if (f.type == FieldType::kSelect) fj["values"] = f.values;
    if (f.type == FieldType::kSelect || f.type == FieldType::kRelation ||
        f.type == FieldType::kFile)
      fj["maxSelect"] = f.max_select;
    if (f.type == FieldType::kFile) {
      fj["maxSize"] = f.max_size;
      fj["mimeTypes"] = f.mime_types;
      fj["protected"] = f.protected_files;
      fj["thumbs"] = f.thumbs;
    }
    if (f.type == FieldType::kRelation) fj["collection"] = f.collection;
    fields.push_back(fj);
  }
  if (c.IsAuth()) {
    fields.push_back({{"name", "email"}, {"type", "email"}, {"system", true}, {"required", true}});
    fields.push_back({{"name", "emailVisibility"}, {"type", "bool"}, {"system", true}});
    fields.push_back({{"name", "verified"}, {"type", "bool"}, {"system", true}});
    fields.push_back(
        {{"name", "password"}, {"type", "password"}, {"system", true}, {"hidden", true}});
    fields.push_back({{"name", "tokenKey"}, {"type", "text"}, {"system", true}, {"hidden", true}});
  }
  fields.push_back({{"name", "created"}, {"type", "autodate"}, {"system", true}});
  fields.push_back({{"name", "updated"}, {"type", "autodate"}, {"system", true}});
  auto rule = [](const std::optional<std::string>& r) { return r ? json(*r) : json(nullptr); };
  return {{"id", c.id},
          {"name", c.name},
          {"type", c.type},
          {"system", false},
          {"fields", fields},
          {"listRule", rule(c.list_rule)},
          {"viewRule", rule(c.view_rule)},
          {"createRule", rule(c.create_rule)},
          {"updateRule", rule(c.update_rule)},
          {"deleteRule", rule(c.delete_rule)}};
}

}  // namespace hearth::data

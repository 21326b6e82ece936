#include "data/schema.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <strings.h>
#include <ctime>
#include <set>
#include <sys/time.h>

namespace hearth::data {
namespace {

using nlohmann::json;

constexpr size_t kMaxFields = 200;
constexpr size_t kMaxNameLength = 63;
constexpr size_t kMaxTextBytes = 1 << 20;  // a text or json value
constexpr size_t kMaxRuleLength = 4096;

const std::set<std::string, std::less<>> kSystemFields = {"id", "created", "updated", "collectionId",
                                                          "collectionName", "expand"};
const std::set<std::string, std::less<>> kAuthFields = {"email", "emailVisibility", "verified", "password",
                                                        "tokenKey", "passwordConfirm", "oldPassword"};

struct TypeName {
  FieldType type;
  const char* name;
};
constexpr TypeName kTypes[] = {{FieldType::kText, "text"},     {FieldType::kNumber, "number"},
                               {FieldType::kBool, "bool"},     {FieldType::kEmail, "email"},
                               {FieldType::kUrl, "url"},       {FieldType::kDate, "date"},
                               {FieldType::kSelect, "select"}, {FieldType::kJson, "json"},
                               {FieldType::kRelation, "relation"}, {FieldType::kFile, "file"}};

const char* TypeText(FieldType t) {
  for (const auto& tn : kTypes)
    if (tn.type == t) return tn.name;
  return "text";
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

std::string RandomChars(size_t n) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  // Drawn from the CSPRNG 4 KiB at a time per thread: OpenSSL's RAND_bytes
  // takes a lock and a getpid() (its fork check) per call, which cost more
  // than the id itself when every create needs one. libsodium's
  // randombytes_buf (getrandom) cannot fail once initialised.
  static const bool ready = sodium_init() >= 0;
  (void)ready;
  thread_local unsigned char pool[4096];
  thread_local size_t used = sizeof pool;
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    if (used == sizeof pool) {
      randombytes_buf(pool, sizeof pool);
      used = 0;
    }
    unsigned char b = pool[used];
    pool[used++] = 0;  // a byte is used once, and not kept once used
    if (b >= 252) continue;  // 252 = 7 * 36: no modulo bias
    out.push_back(kAlphabet[b % 36]);
  }
  return out;
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

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

bool LooksLikeUrl(std::string_view s) {
  size_t scheme = s.find("://");
  if (scheme == std::string_view::npos) return false;
  std::string_view sc = s.substr(0, scheme);
  if (sc != "http" && sc != "https") return false;
  std::string_view rest = s.substr(scheme + 3);
  if (rest.empty() || rest[0] == '/' || s.size() > 2048) return false;
  for (char c : s)
    if (c <= ' ' || c == 0x7f) return false;
  return true;
}

// "2024-05-01", "2024-05-01 10:20:30", "2024-05-01T10:20:30.5Z" -> "2024-05-01 10:20:30.500Z".
std::optional<std::string> NormalizeDate(std::string_view s) {
  int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
  if (s.size() < 10) return std::nullopt;
  auto num = [&](size_t pos, size_t len, int* out) {
    if (pos + len > s.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  if (!num(0, 4, &y) || s[4] != '-' || !num(5, 2, &mo) || s[7] != '-' || !num(8, 2, &d)) return std::nullopt;
  size_t p = 10;
  if (p < s.size() && (s[p] == ' ' || s[p] == 'T')) {
    if (!num(p + 1, 2, &h) || s.size() < p + 9 || s[p + 3] != ':' || !num(p + 4, 2, &mi) || s[p + 6] != ':' ||
        !num(p + 7, 2, &sec))
      return std::nullopt;
    p += 9;
    if (p < s.size() && s[p] == '.') {
      ++p;
      int digits = 0, frac = 0;
      while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
        if (digits < 3) frac = frac * 10 + (s[p] - '0');
        ++digits;
        ++p;
      }
      if (digits == 0) return std::nullopt;
      for (int i = digits; i < 3; ++i) frac *= 10;
      ms = frac;
    }
  }
  if (p < s.size() && s[p] == 'Z') ++p;
  if (p != s.size()) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  char buf[96];
  snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03dZ", y, mo, d, h, mi, sec, ms);
  return std::string(buf);
}


void AddError(json* errors, const std::string& field, const char* code, const std::string& message) {
  (*errors)[field] = {{"code", code}, {"message", message}};
}

}  // namespace

bool LooksLikeEmail(std::string_view s) {
  size_t at = s.find('@');
  if (at == 0 || at == std::string_view::npos || at != s.rfind('@') || s.size() > 254) return false;
  std::string_view domain = s.substr(at + 1);
  size_t dot = domain.find('.');
  if (dot == 0 || dot == std::string_view::npos || domain.back() == '.') return false;
  for (char c : s)
    if (c <= ' ' || c == 0x7f) return false;
  return true;
}

bool IsRecordId(std::string_view s) {
  if (s.size() != 15) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

const Field* Collection::Find(std::string_view field_name) const {
  for (const auto& f : fields)
    if (f.name == field_name) return &f;
  return nullptr;
}

const Collection* Schema::Find(std::string_view name) const {
  auto it = collections.find(name);
  return it == collections.end() ? nullptr : &it->second;
}

std::string NewRecordId() { return RandomChars(15); }

std::string NowDate() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  // The date and time part changes once a second: kept per thread, so a
  // create formats only its milliseconds.
  thread_local time_t last = -1;
  thread_local char head[64];  // "2006-01-02 15:04:05"
  if (tv.tv_sec != last) {
    tm g;
    gmtime_r(&tv.tv_sec, &g);
    snprintf(head, sizeof head, "%04d-%02d-%02d %02d:%02d:%02d", (g.tm_year + 1900) % 10000, g.tm_mon + 1, g.tm_mday,
             g.tm_hour, g.tm_min, g.tm_sec);
    last = tv.tv_sec;
  }
  int ms = static_cast<int>(tv.tv_usec / 1000);
  std::string out(head, 19);
  out.push_back('.');
  out.push_back(static_cast<char>('0' + ms / 100));
  out.push_back(static_cast<char>('0' + ms / 10 % 10));
  out.push_back(static_cast<char>('0' + ms % 10));
  out.push_back('Z');
  return out;
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

Result<Collection> ParseCollection(const json& body, const Schema& schema, const Collection* existing) {
  if (!body.is_object()) return Error{"a collection is a JSON object"};
  static const std::set<std::string, std::less<>> kKeys = {"id", "name", "type", "fields", "listRule", "viewRule",
                                                           "createRule", "updateRule", "deleteRule", "system"};
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
    return Error{"collection name \"" + c.name + "\" must start with a letter and hold only letters, digits and _ (at most 63)"};
  std::string lower;
  for (char ch : c.name) lower.push_back(static_cast<char>(tolower(static_cast<unsigned char>(ch))));
  if (lower.rfind("sqlite_", 0) == 0) return Error{"collection names starting with sqlite_ are reserved"};
  if (!existing && schema.Find(c.name)) return Error{"a collection named " + c.name + " already exists"};
  if (!existing)
    for (const auto& [n, other] : schema.collections)
      if (strcasecmp(n.c_str(), c.name.c_str()) == 0) return Error{"a collection named " + n + " already exists"};
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
          "id", "name", "type", "required", "min", "max", "onlyInt", "values", "maxSelect", "collectionId",
          "collection", "system", "hidden", "presentable", "primaryKey", "maxSize", "mimeTypes", "protected",
          "thumbs"};
      for (auto it = fj.begin(); it != fj.end(); ++it)
        if (!kFieldKeys.count(it.key())) return Error{"unknown key \"" + it.key() + "\" in a field"};
      Field f;
      if (!fj.contains("name") || !fj["name"].is_string()) return Error{"every field needs a name"};
      f.name = fj["name"].get<std::string>();
      if (!IsIdentifier(f.name))
        return Error{"field name \"" + f.name + "\" must start with a letter and hold only letters, digits and _"};
      if (kSystemFields.count(f.name) || (c.IsAuth() && kAuthFields.count(f.name))) {
        // PocketBase lists id/created/updated (and an auth collection's own
        // fields) among the fields: accept them as they are.
        continue;
      }
      if (kAuthFields.count(f.name)) return Error{"field name " + f.name + " is kept for auth collections"};
      std::string lf;
      for (char ch : f.name) lf.push_back(static_cast<char>(tolower(static_cast<unsigned char>(ch))));
      if (!seen.insert(lf).second) return Error{"field " + f.name + " appears twice"};
      if (!fj.contains("type") || !fj["type"].is_string()) return Error{"field " + f.name + " needs a type"};
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
        if (!fj["required"].is_boolean()) return Error{"field " + f.name + ": required must be true or false"};
        f.required = fj["required"].get<bool>();
      }
      for (const char* k : {"min", "max"}) {
        if (!fj.contains(k) || fj[k].is_null()) continue;
        if (!fj[k].is_number()) return Error{"field " + f.name + ": " + k + " must be a number"};
        (std::string(k) == "min" ? f.min : f.max) = fj[k].get<double>();
      }
      if (f.min && f.max && *f.min > *f.max) return Error{"field " + f.name + ": min is above max"};
      if (fj.contains("onlyInt")) {
        if (!fj["onlyInt"].is_boolean()) return Error{"field " + f.name + ": onlyInt must be true or false"};
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
            return Error{"field " + f.name + ": maxSize must be a whole number of bytes up to 1 GiB (0: 5 MiB)"};
          if (fj["maxSize"].get<int64_t>() > 0) f.max_size = static_cast<uint64_t>(fj["maxSize"].get<int64_t>());
        }
        if (fj.contains("mimeTypes") && !fj["mimeTypes"].is_null()) {
          if (!fj["mimeTypes"].is_array()) return Error{"field " + f.name + ": mimeTypes must be a list"};
          for (const json& m : fj["mimeTypes"]) {
            if (!m.is_string() || m.get<std::string>().empty() || m.get<std::string>().size() > 255)
              return Error{"field " + f.name + ": mimeTypes must be media types such as image/png"};
            f.mime_types.push_back(m.get<std::string>());
          }
        }
        if (fj.contains("thumbs") && !fj["thumbs"].is_null()) {
          if (!fj["thumbs"].is_array()) return Error{"field " + f.name + ": thumbs must be a list of sizes"};
          for (const json& t : fj["thumbs"]) {
            if (!t.is_string() || t.get<std::string>().empty() || t.get<std::string>().size() > 20)
              return Error{"field " + f.name + ": thumbs must be sizes such as 100x100"};
            f.thumbs.push_back(t.get<std::string>());
          }
        }
        if (fj.contains("protected") && !fj["protected"].is_null()) {
          if (!fj["protected"].is_boolean()) return Error{"field " + f.name + ": protected must be true or false"};
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
  if (body.contains("createRule") || !existing) c.create_rule = OptionalRule(body, "createRule", &st);
  if (body.contains("updateRule") || !existing) c.update_rule = OptionalRule(body, "updateRule", &st);
  if (body.contains("deleteRule") || !existing) c.delete_rule = OptionalRule(body, "deleteRule", &st);
  if (!st.ok()) return st.error();
  return c;
}

json CollectionJson(const Collection& c) {
  json fields = json::array();
  fields.push_back({{"name", "id"}, {"type", "text"}, {"system", true}, {"required", true}, {"primaryKey", true}});
  for (const auto& f : c.fields) {
    json fj = {{"name", f.name}, {"type", TypeText(f.type)}, {"required", f.required}, {"system", false}};
    auto number = [](double d) { return d == std::floor(d) && std::fabs(d) < 9e15 ? json(static_cast<int64_t>(d)) : json(d); };
    if (f.min) fj["min"] = number(*f.min);
    if (f.max) fj["max"] = number(*f.max);
    if (f.type == FieldType::kNumber) fj["onlyInt"] = f.only_int;
    if (f.type == FieldType::kSelect) fj["values"] = f.values;
    if (f.type == FieldType::kSelect || f.type == FieldType::kRelation || f.type == FieldType::kFile)
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
    fields.push_back({{"name", "password"}, {"type", "password"}, {"system", true}, {"hidden", true}});
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

json JsonSchema(const Collection& c, int64_t schema_version) {
  json props = {
      {"id", {{"type", "string"}, {"pattern", "^[a-z0-9]{15}$"}, {"readOnly", true}}},
      {"collectionId", {{"const", c.id}, {"readOnly", true}}},
      {"collectionName", {{"const", c.name}, {"readOnly", true}}},
      {"created", {{"type", "string"}, {"format", "date-time"}, {"readOnly", true}}},
      {"updated", {{"type", "string"}, {"format", "date-time"}, {"readOnly", true}}},
  };
  json required = json::array();
  if (c.IsAuth()) {
    props["email"] = {{"type", "string"}, {"format", "email"}};
    props["emailVisibility"] = {{"type", "boolean"}};
    props["verified"] = {{"type", "boolean"}};
    props["password"] = {{"type", "string"}, {"minLength", 8}, {"writeOnly", true}};
    props["passwordConfirm"] = {{"type", "string"}, {"writeOnly", true}};
    required.push_back("email");
  }
  for (const auto& f : c.fields) {
    json p;
    switch (f.type) {
      case FieldType::kText:
        p = {{"type", "string"}};
        if (f.min) p["minLength"] = static_cast<int64_t>(*f.min);
        if (f.max) p["maxLength"] = static_cast<int64_t>(*f.max);
        break;
      case FieldType::kEmail: p = {{"type", "string"}, {"format", "email"}}; break;
      case FieldType::kUrl: p = {{"type", "string"}, {"format", "uri"}}; break;
      case FieldType::kDate: p = {{"type", "string"}, {"format", "date-time"}}; break;
      case FieldType::kNumber:
        p = {{"type", f.only_int ? "integer" : "number"}};
        if (f.min) p["minimum"] = *f.min;
        if (f.max) p["maximum"] = *f.max;
        break;
      case FieldType::kBool: p = {{"type", "boolean"}}; break;
      case FieldType::kJson: p = json::object(); break;
      case FieldType::kSelect:
      case FieldType::kRelation:
      case FieldType::kFile: {
        json item = {{"type", "string"}};
        if (f.type == FieldType::kSelect) item["enum"] = f.values;
        if (f.type == FieldType::kRelation) {
          item["pattern"] = "^[a-z0-9]{15}$";
          item["x-relation"] = f.collection;
        }
        if (f.Multi()) p = {{"type", "array"}, {"items", item}, {"maxItems", f.max_select}, {"uniqueItems", true}};
        else p = item;
        break;
      }
    }
    p["x-type"] = TypeText(f.type);
    props[f.name] = p;
    if (f.required) required.push_back(f.name);
  }
  return {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
          {"$id", "hearth:collections/" + c.name},
          {"title", c.name},
          {"type", "object"},
          {"properties", props},
          {"required", required},
          {"additionalProperties", false},
          {"x-schema-version", schema_version}};
}

namespace {
std::string ColumnSql(const Field& f) {
  std::string col = QuoteIdent(f.name) + " ";
  if (f.Multi()) return col + "JSON NOT NULL DEFAULT '[]'";
  switch (f.type) {
    case FieldType::kNumber: return col + "NUMERIC NOT NULL DEFAULT 0";
    case FieldType::kBool: return col + "BOOLEAN NOT NULL DEFAULT FALSE";
    case FieldType::kJson: return col + "JSON DEFAULT NULL";
    default: return col + "TEXT NOT NULL DEFAULT ''";
  }
}
}  // namespace

std::string CreateTableSql(const Collection& c) {
  std::string sql = "CREATE TABLE " + QuoteIdent(c.name) +
                    " (\"id\" TEXT PRIMARY KEY NOT NULL, \"created\" TEXT NOT NULL DEFAULT '', "
                    "\"updated\" TEXT NOT NULL DEFAULT ''";
  if (c.IsAuth())
    sql += ", \"email\" TEXT NOT NULL DEFAULT '', \"emailVisibility\" BOOLEAN NOT NULL DEFAULT FALSE, "
           "\"verified\" BOOLEAN NOT NULL DEFAULT FALSE, \"password\" TEXT NOT NULL DEFAULT '', "
           "\"tokenKey\" TEXT NOT NULL DEFAULT ''";
  for (const auto& f : c.fields) sql += ", " + ColumnSql(f);
  sql += ")";
  if (c.IsAuth())
    sql += "; CREATE UNIQUE INDEX " + QuoteIdent("_" + c.id + "_email") + " ON " + QuoteIdent(c.name) +
           " (\"email\") WHERE \"email\" != ''";
  return sql;
}

Result<std::vector<std::string>> AlterTableSql(const Collection& before, const Collection& after) {
  std::vector<std::string> out;
  for (const auto& f : before.fields) {
    const Field* now = after.Find(f.name);
    if (!now) {
      out.push_back("ALTER TABLE " + QuoteIdent(after.name) + " DROP COLUMN " + QuoteIdent(f.name));
    } else if (now->type != f.type || now->Multi() != f.Multi()) {
      return Error{"field " + f.name + " cannot change its type (remove it and add a new one)"};
    }
  }
  for (const auto& f : after.fields)
    if (!before.Find(f.name)) out.push_back("ALTER TABLE " + QuoteIdent(after.name) + " ADD COLUMN " + ColumnSql(f));
  return out;
}

Result<std::vector<std::pair<std::string, SqlValue>>> CheckRecord(const Collection& c, const json& body, bool create,
                                                                 json* errors) {
  std::vector<std::pair<std::string, SqlValue>> out;
  if (!body.is_object()) return Error{"the body must be a JSON object"};
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    if (c.IsAuth() && kAuthFields.count(key)) {
      const json& v = *it;
      if (key == "email") {
        if (!v.is_string() || !LooksLikeEmail(v.get<std::string>()))
          AddError(errors, key, "validation_invalid_email", "Must be a valid email address.");
        else
          out.emplace_back(key, v.get<std::string>());
      } else if (key == "emailVisibility" || key == "verified") {
        if (!v.is_boolean()) AddError(errors, key, "validation_invalid_value", "Must be true or false.");
        else out.emplace_back(key, static_cast<int64_t>(v.get<bool>()));
      } else if (key == "password") {
        if (!v.is_string() || v.get<std::string>().size() < 8 || v.get<std::string>().size() > 256)
          AddError(errors, key, "validation_length_out_of_range", "Must be between 8 and 256 characters.");
        else if (!body.contains("passwordConfirm") || body["passwordConfirm"] != v)
          AddError(errors, "passwordConfirm", "validation_values_mismatch", "Values don't match.");
        else
          out.emplace_back(key, v.get<std::string>());
      } else if (key == "tokenKey") {
        AddError(errors, key, "validation_unknown_field", "Unknown field.");
      }
      continue;  // passwordConfirm, oldPassword: read with password
    }
    if (kSystemFields.count(key)) {
      if (key == "id" && create && !it->is_null()) {
        if (!it->is_string() || !IsRecordId(it->get<std::string>()))
          AddError(errors, "id", "validation_invalid_id", "Must be 15 lower-case letters and digits.");
        else
          out.emplace_back("id", it->get<std::string>());
      }
      continue;  // the others are the server's to set
    }
    const Field* f = c.Find(key);
    if (!f) {
      AddError(errors, key, "validation_unknown_field", "Unknown field.");
      continue;
    }
    if (f->type == FieldType::kFile) continue;  // TakeFileOps' part
    const json& v = *it;
    auto invalid = [&](const std::string& msg) { AddError(errors, key, "validation_invalid_value", msg); };
    bool blank = v.is_null();
    switch (f->type) {
      case FieldType::kText:
      case FieldType::kEmail:
      case FieldType::kUrl:
      case FieldType::kDate: {
        if (v.is_null()) {
          out.emplace_back(key, std::string());
          break;
        }
        if (!v.is_string()) { invalid("Must be a string."); break; }
        std::string s = v.get<std::string>();
        blank = s.empty();
        if (s.size() > kMaxTextBytes) { invalid("Must be at most 1 MiB."); break; }
        if (!blank && f->type == FieldType::kText) {
          size_t n = Utf8Length(s);
          if (f->min && n < *f->min) { invalid("Must be at least " + std::to_string(static_cast<int64_t>(*f->min)) + " character(s)."); break; }
          if (f->max && n > *f->max) { invalid("Must be at most " + std::to_string(static_cast<int64_t>(*f->max)) + " character(s)."); break; }
        }
        if (!blank && f->type == FieldType::kEmail && !LooksLikeEmail(s)) { invalid("Must be a valid email address."); break; }
        if (!blank && f->type == FieldType::kUrl && !LooksLikeUrl(s)) { invalid("Must be a valid url."); break; }
        if (!blank && f->type == FieldType::kDate) {
          auto d = NormalizeDate(s);
          if (!d) { invalid("Must be a valid date (2006-01-02 15:04:05.000Z)."); break; }
          s = *d;
        }
        out.emplace_back(key, std::move(s));
        break;
      }
      case FieldType::kNumber: {
        if (v.is_null()) { out.emplace_back(key, int64_t{0}); blank = true; break; }
        if (!v.is_number()) { invalid("Must be a number."); break; }
        double d = v.get<double>();
        if (!std::isfinite(d)) { invalid("Must be a finite number."); break; }
        if (f->only_int && d != std::floor(d)) { invalid("Must be a whole number."); break; }
        if (f->min && d < *f->min) { invalid("Must be at least " + json(*f->min).dump() + "."); break; }
        if (f->max && d > *f->max) { invalid("Must be at most " + json(*f->max).dump() + "."); break; }
        blank = d == 0;
        if (v.is_number_integer()) out.emplace_back(key, v.get<int64_t>());
        else out.emplace_back(key, d);
        break;
      }
      case FieldType::kBool:
        if (v.is_null()) { out.emplace_back(key, int64_t{0}); blank = true; break; }
        if (!v.is_boolean()) { invalid("Must be true or false."); break; }
        blank = !v.get<bool>();
        out.emplace_back(key, static_cast<int64_t>(v.get<bool>()));
        break;
      case FieldType::kJson: {
        std::string dumped = v.dump();
        if (dumped.size() > kMaxTextBytes) { invalid("Must be at most 1 MiB."); break; }
        blank = v.is_null() || (v.is_string() && v.get<std::string>().empty()) || (v.is_array() && v.empty()) ||
                (v.is_object() && v.empty());
        if (v.is_null()) out.emplace_back(key, nullptr);
        else out.emplace_back(key, std::move(dumped));
        break;
      }
      case FieldType::kSelect:
      case FieldType::kRelation:
      case FieldType::kFile: {
        std::vector<std::string> items;
        bool ok = true;
        if (v.is_string()) {
          if (!v.get<std::string>().empty()) items.push_back(v.get<std::string>());
        } else if (v.is_array()) {
          for (const json& item : v) {
            if (!item.is_string()) { ok = false; break; }
            if (!item.get<std::string>().empty()) items.push_back(item.get<std::string>());
          }
        } else if (!v.is_null()) {
          ok = false;
        }
        if (!ok) { invalid(f->Multi() ? "Must be a list of strings." : "Must be a string."); break; }
        std::set<std::string> uniq(items.begin(), items.end());
        if (uniq.size() != items.size()) { invalid("Must not repeat a value."); break; }
        if (static_cast<int>(items.size()) > f->max_select) {
          invalid("Must have at most " + std::to_string(f->max_select) + " value(s).");
          break;
        }
        bool bad = false;
        for (const auto& item : items) {
          if (f->type == FieldType::kSelect &&
              std::find(f->values.begin(), f->values.end(), item) == f->values.end()) {
            invalid("Value \"" + item + "\" is not one of the allowed values.");
            bad = true;
            break;
          }
          if (f->type == FieldType::kRelation && !IsRecordId(item)) {
            invalid("Must be record ids.");
            bad = true;
            break;
          }
        }
        if (bad) break;
        blank = items.empty();
        if (f->Multi()) out.emplace_back(key, json(items).dump());
        else out.emplace_back(key, items.empty() ? std::string() : items[0]);
        break;
      }
    }
    if (blank && f->required && !errors->contains(key))
      AddError(errors, key, "validation_required", "Cannot be blank.");
  }
  if (create && c.IsAuth()) {
    if (!body.contains("email") && !errors->contains("email"))
      AddError(errors, "email", "validation_required", "Cannot be blank.");
    if (!body.contains("password") && !errors->contains("password"))
      AddError(errors, "password", "validation_required", "Cannot be blank.");
  }
  if (create)
    for (const auto& f : c.fields)
      if (f.required && f.type != FieldType::kFile && !body.contains(f.name) && !errors->contains(f.name))
        AddError(errors, f.name, "validation_required", "Cannot be blank.");
  return out;
}

}  // namespace hearth::data

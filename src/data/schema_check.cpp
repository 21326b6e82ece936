// A record checked against its collection before it is written: each
// field's type, bounds and form, PocketBase's per-field errors, and an auth
// collection's own fields.
#include <cmath>
#include <cstdio>

#include "data/schema.h"
#include "data/schema_internal.h"

namespace hearth::data {
namespace {

using nlohmann::json;
using namespace schema_internal;

constexpr size_t kMaxTextBytes = 1 << 20;  // a text or json value

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
  if (!num(0, 4, &y) || s[4] != '-' || !num(5, 2, &mo) || s[7] != '-' || !num(8, 2, &d))
    return std::nullopt;
  size_t p = 10;
  if (p < s.size() && (s[p] == ' ' || s[p] == 'T')) {
    if (!num(p + 1, 2, &h) || s.size() < p + 9 || s[p + 3] != ':' || !num(p + 4, 2, &mi) ||
        s[p + 6] != ':' || !num(p + 7, 2, &sec))
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

void AddError(json* errors, const std::string& field, const char* code,
              const std::string& message) {
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

Result<std::vector<std::pair<std::string, SqlValue>>> CheckRecord(const Collection& c,
                                                                  const json& body, bool create,
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
        if (!v.is_boolean())
          AddError(errors, key, "validation_invalid_value", "Must be true or false.");
        else
          out.emplace_back(key, static_cast<int64_t>(v.get<bool>()));
      } else if (key == "password") {
        if (!v.is_string() || v.get<std::string>().size() < 8 || v.get<std::string>().size() > 256)
          AddError(errors, key, "validation_length_out_of_range",
                   "Must be between 8 and 256 characters.");
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
          AddError(errors, "id", "validation_invalid_id",
                   "Must be 15 lower-case letters and digits.");
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
    auto invalid = [&](const std::string& msg) {
      AddError(errors, key, "validation_invalid_value", msg);
    };
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
        if (!v.is_string()) {
          invalid("Must be a string.");
          break;
        }
        std::string s = v.get<std::string>();
        blank = s.empty();
        if (s.size() > kMaxTextBytes) {
          invalid("Must be at most 1 MiB.");
          break;
        }
        if (!blank && f->type == FieldType::kText) {
          size_t n = Utf8Length(s);
          if (f->min && n < *f->min) {
            invalid("Must be at least " + std::to_string(static_cast<int64_t>(*f->min)) +
                    " character(s).");
            break;
          }
          if (f->max && n > *f->max) {
            invalid("Must be at most " + std::to_string(static_cast<int64_t>(*f->max)) +
                    " character(s).");
            break;
          }
        }
        if (!blank && f->type == FieldType::kEmail && !LooksLikeEmail(s)) {
          invalid("Must be a valid email address.");
          break;
        }
        if (!blank && f->type == FieldType::kUrl && !LooksLikeUrl(s)) {
          invalid("Must be a valid url.");
          break;
        }
        if (!blank && f->type == FieldType::kDate) {
          auto d = NormalizeDate(s);
          if (!d) {
            invalid("Must be a valid date (2006-01-02 15:04:05.000Z).");
            break;
          }
          s = *d;
        }
        out.emplace_back(key, std::move(s));
        break;
      }
      case FieldType::kNumber: {
        if (v.is_null()) {
          out.emplace_back(key, int64_t{0});
          blank = true;
          break;
        }
        if (!v.is_number()) {
          invalid("Must be a number.");
          break;
        }
        double d = v.get<double>();
        if (!std::isfinite(d)) {
          invalid("Must be a finite number.");
          break;
        }
        if (f->only_int && d != std::floor(d)) {
          invalid("Must be a whole number.");
          break;
        }
        if (f->min && d < *f->min) {
          invalid("Must be at least " + json(*f->min).dump() + ".");
          break;
        }
        if (f->max && d > *f->max) {
          invalid("Must be at most " + json(*f->max).dump() + ".");
          break;
        }
        blank = d == 0;
        if (v.is_number_integer())
          out.emplace_back(key, v.get<int64_t>());
        else
          out.emplace_back(key, d);
        break;
      }
      case FieldType::kBool:
        if (v.is_null()) {
          out.emplace_back(key, int64_t{0});
          blank = true;
          break;
        }
        if (!v.is_boolean()) {
          invalid("Must be true or false.");
          break;
        }
        blank = !v.get<bool>();
        out.emplace_back(key, static_cast<int64_t>(v.get<bool>()));
        break;
      case FieldType::kJson: {
        std::string dumped = v.dump();
        if (dumped.size() > kMaxTextBytes) {
          invalid("Must be at most 1 MiB.");
          break;
        }
        blank = v.is_null() || (v.is_string() && v.get<std::string>().empty()) ||
                (v.is_array() && v.empty()) || (v.is_object() && v.empty());
        if (v.is_null())
          out.emplace_back(key, nullptr);
        else
          out.emplace_back(key, std::move(dumped));
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
            if (!item.is_string()) {
              ok = false;
              break;
            }
            if (!item.get<std::string>().empty()) items.push_back(item.get<std::string>());
          }
        } else if (!v.is_null()) {
          ok = false;
        }
        if (!ok) {
          invalid(f->Multi() ? "Must be a list of strings." : "Must be a string.");
          break;
        }
        std::set<std::string> uniq(items.begin(), items.end());
        if (uniq.size() != items.size()) {
          invalid("Must not repeat a value.");
          break;
        }
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
        if (f->Multi())
          out.emplace_back(key, json(items).dump());
        else
          out.emplace_back(key, items.empty() ? std::string() : items[0]);
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
      if (f.required && f.type != FieldType::kFile && !body.contains(f.name) &&
          !errors->contains(f.name))
        AddError(errors, f.name, "validation_required", "Cannot be blank.");
  return out;
}

}  // namespace hearth::data

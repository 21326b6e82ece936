#pragma once
// Collections: the tables of a site's app database, described as data (the
// shape PocketBase's API uses), validated, turned into SQL (CREATE/ALTER), into
// a JSON Schema, and used to check records before they are written.
//
// Every collection table has an explicit primary key `id` (15 random
// lower-case letters and digits) and `created`/`updated` dates
// ("2006-01-02 15:04:05.000Z", UTC), then one column per field.
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "data/filter.h"

namespace hearth::data {

enum class FieldType {
  kText,
  kNumber,
  kBool,
  kEmail,
  kUrl,
  kDate,
  kSelect,
  kJson,
  kRelation,
  kFile
};

struct Field {
  std::string name;
  FieldType type = FieldType::kText;
  bool required = false;
  std::optional<double> min, max;       // text: length; number: value
  bool only_int = false;                // number
  std::vector<std::string> values;      // select: the allowed values
  int max_select = 1;                   // select, relation, file: >1 makes it multi-valued
  std::string collection;               // relation: the collection it points to (by name)
  uint64_t max_size = 5ull << 20;       // file: bytes per file
  std::vector<std::string> mime_types;  // file: the allowed types (none: any)
  bool protected_files = false;         // file: served only with a file token
  std::vector<std::string> thumbs;      // file: thumbnail sizes (kept; not made yet)
  bool Multi() const {
    return (type == FieldType::kSelect || type == FieldType::kRelation ||
            type == FieldType::kFile) &&
           max_select > 1;
  }
};

struct Collection {
  std::string id;    // stable across renames: "pbc_" + 11 random characters
  std::string name;  // the table's name
  std::string type = "base";
  std::vector<Field> fields;
  // Rules: nullopt = superusers only; "" = everyone; else a filter.
  std::optional<std::string> list_rule, view_rule, create_rule, update_rule, delete_rule;
  const Field* Find(std::string_view field_name) const;
  // An auth collection's records sign in: they also have email,
  // emailVisibility, verified, password (an argon2id hash, never shown) and
  // tokenKey (never shown; a new one ends every earlier token).
  bool IsAuth() const { return type == "auth"; }
};

// All collections of one app database, at one schema version.
struct Schema {
  int64_t version = 0;
  std::map<std::string, Collection, std::less<>> collections;  // by name
  const Collection* Find(std::string_view name) const;
};

// Parses and checks a collection definition from the API:
//   {name, type?, fields:[{name, type, required?, min?, max?, onlyInt?, values?,
//    maxSelect?, collectionId? | collection?}], listRule?, viewRule?, ...}
// Names are identifiers (letters, digits, _; not starting with _ or a digit;
// not system names); relations must point to an existing collection (in
// `schema`, or the collection itself); rules must parse. `existing`: the
// collection being changed (keeps its id), or null for a new one.
Result<Collection> ParseCollection(const nlohmann::json& body, const Schema& schema,
                                   const Collection* existing);

// The definition as the API shows it (the same shape ParseCollection takes).
nlohmann::json CollectionJson(const Collection& c);
// A JSON Schema (draft 2020-12) for the collection's records.
nlohmann::json JsonSchema(const Collection& c, int64_t schema_version);

// SQL that creates the table, and that turns `before` into `after` (added,
// removed and renamed-by-id fields; a changed type is refused).
std::string CreateTableSql(const Collection& c);
Result<std::vector<std::string>> AlterTableSql(const Collection& before, const Collection& after);

// A record body checked against the collection: the columns to write and
// their values. Per-field problems go into *errors as PocketBase reports them
// ({"title": {"code": "validation_required", "message": "..."}}); `create`
// checks required fields that are absent. Unknown fields are refused. File
// fields are left out: TakeFileOps (data/files.h) takes them first. For an
// auth collection, a new password comes back in plain text under "password"
// (the caller hashes it) and passwordConfirm must match it.
Result<std::vector<std::pair<std::string, SqlValue>>> CheckRecord(const Collection& c,
                                                                  const nlohmann::json& body,
                                                                  bool create,
                                                                  nlohmann::json* errors);

// "[a-z0-9]{15}", from a CSPRNG.
std::string NewRecordId();
// Whether `s` has a record id's form.
bool IsRecordId(std::string_view s);
// Whether `s` has the shape of an email address (local@domain.tld, at most 254 bytes).
bool LooksLikeEmail(std::string_view s);
// Now, as dates are stored: "2006-01-02 15:04:05.000Z".
std::string NowDate();
// Quotes an identifier for SQL ("name" with quotes doubled).
std::string QuoteIdent(std::string_view name);

}  // namespace hearth::data

#pragma once
// What the schema_*.cpp files share and nothing else needs: the field type
// names, the names a collection's own fields may not take, and random ids.
// The public side of collections is data/schema.h.
#include <set>
#include <string>
#include <string_view>

#include "crypto/random.h"
#include "data/schema.h"

namespace hearth::data::schema_internal {

// Always there, never a field: a record's own columns and its expansions.
inline const std::set<std::string, std::less<>> kSystemFields = {
    "id", "created", "updated", "collectionId", "collectionName", "expand"};
// An auth collection's own fields (and the two a password change sends).
inline const std::set<std::string, std::less<>> kAuthFields = {
    "email",    "emailVisibility", "verified",   "password",
    "tokenKey", "passwordConfirm", "oldPassword"};

struct TypeName {
  FieldType type;
  const char* name;
};
inline constexpr TypeName kTypes[] = {
    {FieldType::kText, "text"},         {FieldType::kNumber, "number"},
    {FieldType::kBool, "bool"},         {FieldType::kEmail, "email"},
    {FieldType::kUrl, "url"},           {FieldType::kDate, "date"},
    {FieldType::kSelect, "select"},     {FieldType::kJson, "json"},
    {FieldType::kRelation, "relation"}, {FieldType::kFile, "file"}};

// The type's name in the API ("text", "number", ...).
inline const char* TypeText(FieldType t) {
  for (const auto& tn : kTypes)
    if (tn.type == t) return tn.name;
  return "text";
}

// n characters of [a-z0-9], from a CSPRNG.
using crypto::RandomChars;

}  // namespace hearth::data::schema_internal

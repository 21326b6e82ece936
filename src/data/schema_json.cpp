// A collection's records described as a JSON Schema (draft 2020-12): what the
// console builds its forms from, and what a client may validate against.
#include "data/schema.h"
#include "data/schema_internal.h"

namespace hearth::data {

using nlohmann::json;
using schema_internal::TypeText;

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
      case FieldType::kEmail:
        p = {{"type", "string"}, {"format", "email"}};
        break;
      case FieldType::kUrl:
        p = {{"type", "string"}, {"format", "uri"}};
        break;
      case FieldType::kDate:
        p = {{"type", "string"}, {"format", "date-time"}};
        break;
      case FieldType::kNumber:
        p = {{"type", f.only_int ? "integer" : "number"}};
        if (f.min) p["minimum"] = *f.min;
        if (f.max) p["maximum"] = *f.max;
        break;
      case FieldType::kBool:
        p = {{"type", "boolean"}};
        break;
      case FieldType::kJson:
        p = json::object();
        break;
      case FieldType::kSelect:
      case FieldType::kRelation:
      case FieldType::kFile: {
        json item = {{"type", "string"}};
        if (f.type == FieldType::kSelect) item["enum"] = f.values;
        if (f.type == FieldType::kRelation) {
          item["pattern"] = "^[a-z0-9]{15}$";
          item["x-relation"] = f.collection;
        }
        if (f.Multi())
          p = {{"type", "array"},
               {"items", item},
               {"maxItems", f.max_select},
               {"uniqueItems", true}};
        else
          p = item;
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

}  // namespace hearth::data

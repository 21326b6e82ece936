// libFuzzer target for collection definitions and record validation
// (src/data/schema.h). The input is "DEFINITION\0RECORD": both JSON. A
// definition that parses is turned into SQL and back into JSON (which must
// parse again to the same thing); a record is checked against it (or against
// a fixed collection when the definition does not parse). Traps when a
// refused record yields values, or accepted values are not for known fields.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "data/schema.h"

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hearth::data;
  using nlohmann::json;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string_view def_text = in.substr(0, nul);
  std::string_view rec_text = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  static const Collection kFixed = [] {
    Schema s;
    auto c = ParseCollection(json::parse(R"({"name":"t","fields":[
        {"name":"title","type":"text","required":true,"max":20},{"name":"n","type":"number","min":0},
        {"name":"ok","type":"bool"},{"name":"mail","type":"email"},{"name":"u","type":"url"},
        {"name":"d","type":"date"},{"name":"tags","type":"select","values":["a","b"],"maxSelect":2},
        {"name":"j","type":"json"},{"name":"rel","type":"relation","collection":"t","maxSelect":3}]})"),
                             s, nullptr);
    return *c;
  }();
  Schema schema;
  Collection col = kFixed;
  json def = json::parse(def_text, nullptr, false);
  if (!def.is_discarded()) {
    auto c = ParseCollection(def, schema, nullptr);
    if (c.ok()) {
      col = *c;
      (void)CreateTableSql(col);
      Collection shell;
      shell.id = col.id;
      shell.name = col.name;
      schema.collections[col.name] = shell;
      auto again = ParseCollection(CollectionJson(col), schema, &shell);
      CHECK(again.ok());
      CHECK(CollectionJson(*again) == CollectionJson(col));
      (void)JsonSchema(col, 1);
    }
  }
  json rec = json::parse(rec_text, nullptr, false);
  if (rec.is_discarded()) return 0;
  json errors = json::object();
  auto values = CheckRecord(col, rec, size % 2 == 0, &errors);
  if (!values.ok()) return 0;
  for (const auto& [name, v] : *values) CHECK(name == "id" || col.Find(name));
  return 0;
}

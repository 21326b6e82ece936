// libFuzzer target for collection definitions and record validation
// (src/data/schema.h). The input is "DEFINITION\0RECORD": both JSON. A
// definition that parses is turned into SQL and back into JSON (which must
// parse again to the same thing); a record is checked against it (or against
// a fixed collection when the definition does not parse). Traps when a
// refused record yields values, or accepted values are not for known fields.
// The record's file keys are also read as a write's file ops (with the input
// as an uploaded file's name and bytes): a field's new names must be its
// current ones or new uploads' stored names, never a name the input chose.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "data/files.h"
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
  std::string_view rec_text =
      nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  static const Collection kFixed = [] {
    Schema s;
    auto c = ParseCollection(json::parse(R"({"name":"t","fields":[
        {"name":"title","type":"text","required":true,"max":20},{"name":"n","type":"number","min":0},
        {"name":"ok","type":"bool"},{"name":"mail","type":"email"},{"name":"u","type":"url"},
        {"name":"d","type":"date"},{"name":"tags","type":"select","values":["a","b"],"maxSelect":2},
        {"name":"j","type":"json"},{"name":"rel","type":"relation","collection":"t","maxSelect":3},
        {"name":"f","type":"file","maxSelect":2,"maxSize":64},{"name":"g","type":"file","mimeTypes":["image/png"]}]})"),
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
  if (values.ok())
    for (const auto& [name, v] : *values) CHECK(name == "id" || col.Find(name));

  CHECK(IsStoredFileName(StoredFileName(rec_text)));
  (void)SniffMime(rec_text, rec_text);
  std::vector<Upload> uploads;
  for (const char* field : {"f", "g", "f+", "+g"}) {
    Upload u;
    u.field = field;
    u.original = std::string(rec_text.substr(0, 40));
    u.data = rec_text;
    uploads.push_back(u);
  }
  for (auto& u : uploads) {
    if (u.field.back() == '+') {
      u.field.pop_back();
      u.mode = Upload::Mode::kAppend;
    }
    if (u.field[0] == '+') {
      u.field.erase(0, 1);
      u.mode = Upload::Mode::kPrepend;
    }
  }
  json body = rec;
  errors = json::object();
  auto ops = TakeFileOps(col, &body, &uploads, &errors);
  const std::vector<std::string> current = {"a_0123456789.txt", "b_0123456789.png"};
  for (const FileOp& op : ops) {
    CHECK(op.field && op.field->type == FieldType::kFile);
    auto next = ApplyFileOp(op, current, &errors);
    for (const auto& n : next) {
      bool known = std::find(current.begin(), current.end(), n) != current.end();
      for (const auto& u : uploads) known |= !u.stored.empty() && u.stored == n;
      CHECK(known && IsStoredFileName(n));
    }
  }
  return 0;
}

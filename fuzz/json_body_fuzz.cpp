// Fuzzes the one JSON entry point for outside text (ParseJson) and the data
// API's paths that take JSON from a request: a plain body, a multipart
// @jsonPayload part, a batch's request bodies, and a record's json field
// (CheckRecord, which dumps it). Deep nesting (a seed of 100,000 '[') must be
// refused, not recursed into: every value that comes out is copied and
// dumped here, so a value past the depth limit would overflow the stack.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/json.h"
#include "data/records_internal.h"
#include "data/schema.h"

#define CHECK(x)                                                     \
  do {                                                               \
    if (!(x)) {                                                      \
      fprintf(stderr, "CHECK failed: %s (line %d)\n", #x, __LINE__); \
      abort();                                                       \
    }                                                                \
  } while (0)

namespace {

using nlohmann::json;
using namespace hearth;

int Depth(const json& j, int d = 0) {
  int best = d;
  if (j.is_structured())
    for (const auto& v : j) best = std::max(best, Depth(v, d + 1));
  return best;
}

const data::Collection& TestCollection() {
  static data::Collection c = [] {
    data::Schema schema;
    json def = {
        {"name", "posts"},
        {"fields", {{{"name", "title"}, {"type", "text"}}, {{"name", "meta"}, {"type", "json"}}}}};
    auto parsed = data::ParseCollection(def, schema, nullptr);
    CHECK(parsed.ok());
    return std::move(parsed).value();
  }();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  JsonLimits limits;
  auto parsed = ParseJson(text, limits);
  if (parsed.ok()) {
    CHECK(Depth(*parsed) <= limits.max_depth);
    json copy = *parsed;  // recursive: safe only because the depth is bounded
    (void)copy.dump();
  }
  // A plain body and a multipart @jsonPayload part, as the record paths read them.
  Request req;
  auto body = data::records::RequestJson(req, text, nullptr, 1 << 20);
  CHECK(!body.ok() || body->is_object());
  std::string multipart = "--b\r\nContent-Disposition: form-data; name=\"@jsonPayload\"\r\n\r\n" +
                          std::string(text) + "\r\n--b--\r\n";
  req.headers.push_back(HeaderField{"Content-Type", "multipart/form-data; boundary=b"});
  auto payload = data::records::RequestJson(req, multipart, nullptr, 1 << 20);
  CHECK(!payload.ok() || payload->is_object());
  // A batch: the request's body is the input.
  std::string batch =
      "{\"requests\":[{\"method\":\"POST\",\"url\":\"/api/collections/posts/records\",\"body\":" +
      std::string(text) + "}]}";
  auto b = ParseJson(batch, limits);
  if (b.ok()) CHECK(Depth(*b) <= limits.max_depth);
  // A record whose json field is the input: CheckRecord dumps it.
  if (parsed.ok()) {
    json record = {{"title", "x"}, {"meta", std::move(parsed).value()}};
    json errors = json::object();
    (void)data::CheckRecord(TestCollection(), record, true, &errors);
  }
  return 0;
}

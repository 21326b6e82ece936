// libFuzzer target for multipart/form-data bodies (src/http/multipart.h). The
// first input byte picks the boundary's length (1..16, "b" repeated); the rest
// is the body. Traps when a part's bytes are not inside the body, or a part
// comes back without a name.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/multipart.h"

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string boundary(1 + data[0] % 16, 'b');
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  (void)hearth::MultipartBoundary(body.substr(0, 80));
  auto parts = hearth::ParseMultipart(body, boundary);
  if (!parts.ok()) return 0;
  for (const auto& p : *parts) {
    CHECK(!p.name.empty());
    CHECK(p.data.empty() || (p.data.data() >= body.data() && p.data.data() + p.data.size() <= body.data() + body.size()));
  }
  return 0;
}

// libFuzzer target for multipart/form-data bodies (src/http/multipart.h). The
// first input byte picks the boundary's length (1..16, "b" repeated) and the
// size of the pieces the streaming reader is fed (1..16 bytes); the rest is
// the body. Traps when a part's bytes are not inside the body, a part comes
// back without a name, or MultipartReader, fed the body piece by piece, does
// not read exactly what ParseMultipart reads whole.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/multipart.h"

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace {

struct Collect : hearth::MultipartReader::Events {
  std::vector<hearth::FormPart> parts;
  std::vector<std::string> data;
  bool open = false;
  hearth::Status OnPart(const hearth::FormPart& head) override {
    CHECK(!open);
    open = true;
    parts.push_back(head);
    data.emplace_back();
    return hearth::OkStatus();
  }
  hearth::Status OnData(std::string_view bytes) override {
    CHECK(open && !bytes.empty());
    data.back().append(bytes);
    return hearth::OkStatus();
  }
  hearth::Status OnPartEnd() override {
    CHECK(open);
    open = false;
    return hearth::OkStatus();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string boundary(1 + data[0] % 16, 'b');
  size_t piece = 1 + (data[0] / 16);
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  (void)hearth::MultipartBoundary(body.substr(0, 80));
  auto parts = hearth::ParseMultipart(body, boundary);
  if (parts.ok()) {
    for (const auto& p : *parts) {
      CHECK(!p.name.empty());
      CHECK(p.data.empty() || (p.data.data() >= body.data() &&
                               p.data.data() + p.data.size() <= body.data() + body.size()));
    }
  }
  if (body.size() > 16 * 1024) return 0;  // past the reader's header bound, the two may differ
  Collect got;
  hearth::MultipartReader reader(boundary, &got);
  hearth::Status st = hearth::OkStatus();
  for (size_t at = 0; at < body.size() && st.ok(); at += piece)
    st = reader.Feed(body.substr(at, piece));
  if (st.ok()) st = reader.Finish();
  CHECK(st.ok() == parts.ok());
  if (!st.ok()) return 0;
  CHECK(got.parts.size() == parts->size());
  for (size_t i = 0; i < got.parts.size(); ++i) {
    CHECK(got.parts[i].name == (*parts)[i].name);
    CHECK(got.parts[i].filename == (*parts)[i].filename);
    CHECK(got.parts[i].content_type == (*parts)[i].content_type);
    CHECK(got.data[i] == (*parts)[i].data);
  }
  CHECK(!got.open);
  return 0;
}

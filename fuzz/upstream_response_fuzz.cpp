// libFuzzer target for what the reverse proxy reads from upstreams and from
// its stored settings: ParseResponseHead (then the body's ChunkedDecoder, as
// the proxy runs it) and ParseProxyConfig. No network, no files.
//
// Properties checked (__builtin_trap when one fails), besides ASan/UBSan:
//  * a head parsed whole and the same bytes in two pieces (the split from the
//    first input byte, the second call passing the first size as scan_from)
//    reach the same state, `consumed` and status;
//  * on kDone: a status in 100..599, views inside the buffer, a framing that
//    matches the flags (until_close only without a length; a chunked answer
//    with a Content-Length is never reused);
//  * errors are 502 with a reason;
//  * a configuration that parses serializes to JSON that parses to the same.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "http/h1_parser.h"
#include "proxy/upstream.h"

namespace {

using namespace hearth;

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

constexpr H1Limits kLimits{.max_header_bytes = 1024,
                           .max_target_bytes = 64,
                           .max_header_count = 16,
                           .max_body_bytes = 4096};

bool Within(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void FuzzHead(std::string_view in, size_t split) {
  ResponseHead whole;
  HeadResult a = ParseResponseHead(in, kLimits, &whole);
  if (a.state == ParseState::kError) {
    CHECK(a.status == 502);
    CHECK(a.reason && *a.reason);
  }
  if (a.state == ParseState::kIncomplete) CHECK(in.size() <= kLimits.max_header_bytes);
  if (a.state == ParseState::kDone) {
    CHECK(a.consumed <= in.size());
    CHECK(whole.status >= 100 && whole.status <= 599);
    for (const auto& h : whole.headers) {
      CHECK(Within(h.name, in));
      CHECK(Within(h.value, in));
      CHECK(!h.name.empty());
    }
    CHECK(whole.headers.size() <= kLimits.max_header_count);
    if (whole.until_close) CHECK(whole.framing == BodyFraming::kNone && !whole.keep_alive);
    if (whole.framing == BodyFraming::kNone) CHECK(whole.until_close);
    // The body, as the proxy would decode it.
    if (whole.framing == BodyFraming::kChunked) {
      ChunkedDecoder d;
      std::string body;
      size_t used = 0;
      int status = 0;
      const char* reason = "";
      ParseState st = d.Feed(in.substr(a.consumed), &used, &body, UINT64_MAX, &status, &reason);
      CHECK(used <= in.size() - a.consumed);
      CHECK(body.size() <= in.size());
      (void)st;
    }
  }
  // The same bytes in two reads.
  split = in.empty() ? 0 : split % (in.size() + 1);
  std::string buf(in.substr(0, split));
  ResponseHead pieces;
  HeadResult b = ParseResponseHead(buf, kLimits, &pieces);
  if (b.state == ParseState::kIncomplete) {
    buf.append(in.substr(split));
    b = ParseResponseHead(buf, kLimits, &pieces, split);
  }
  CHECK(a.state == b.state);
  if (a.state == ParseState::kDone) {
    CHECK(a.consumed == b.consumed);
    CHECK(whole.status == pieces.status);
    CHECK(whole.framing == pieces.framing);
    CHECK(whole.keep_alive == pieces.keep_alive);
    CHECK(whole.content_length == pieces.content_length);
  }
  if (a.state == ParseState::kError) CHECK(a.status == b.status);
}

void FuzzConfig(std::string_view in) {
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) return;
  auto c = proxy::ParseProxyConfig(j);
  if (!c.ok()) {
    CHECK(!c.error().message.empty());
    return;
  }
  CHECK(!c->upstreams.empty());
  CHECK(!c->path.empty() && c->path[0] == '/');
  nlohmann::json out = proxy::ProxyConfigToJson(*c);
  auto again = proxy::ParseProxyConfig(nlohmann::json::parse(out.dump()));
  CHECK(again.ok());
  CHECK(proxy::ProxyConfigToJson(*again) == out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] == '{') {
    FuzzConfig(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
  }
  FuzzHead(in, data[0]);
  return 0;
}

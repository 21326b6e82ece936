// libFuzzer target for the HTTP/1 request parser: ParseRequestHead and, when a
// head declares a chunked body, ChunkedDecoder. No network, no files.
//
// Besides "does not crash under ASan/UBSan", it checks properties that must hold
// for every input and traps (__builtin_trap) when one does not:
//  * the head parsed from the whole buffer and the head parsed from the same
//    bytes arriving in three pieces (split points derived from the first two
//    input bytes, each call passing the previous size as scan_from) reach the
//    same state, and on kDone the same `consumed`;
//  * the chunked body decoded in one Feed, one byte at a time, and split in two
//    gives the same state, consumed count, status and body;
//  * results stay inside their contracts (statuses from h1_parser.h, views into
//    the buffer, limits respected, kIncomplete never buffers past the limit).
// Requests are followed through pipelining: after a complete head the body is
// skipped (Content-Length) or decoded (chunked) and the next head is parsed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/h1_parser.h"

namespace {

using hearth::BodyFraming;
using hearth::ChunkedDecoder;
using hearth::H1Limits;
using hearth::HeadResult;
using hearth::ParseRequestHead;
using hearth::ParseState;
using hearth::Request;

// Small limits so that the fuzzer reaches every limit check with short inputs.
constexpr H1Limits kLimits{.max_header_bytes = 1024,
                           .max_target_bytes = 64,
                           .max_header_count = 16,
                           .max_body_bytes = 4096};

// ParseRequestHead skips at most 64 empty lines before the request line.
constexpr size_t kMaxLeadingBytes = 2 * 65;

constexpr int kMaxRequestsPerInput = 8;

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

bool Within(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  auto p = reinterpret_cast<uintptr_t>(part.data());
  auto w = reinterpret_cast<uintptr_t>(whole.data());
  return p >= w && p + part.size() <= w + whole.size();
}

bool IsHeadStatus(int s) {
  return s == 400 || s == 413 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505;
}

void CheckHeadContract(std::string_view in, const HeadResult& r, const Request& req) {
  switch (r.state) {
    case ParseState::kIncomplete:
      // Waiting for more bytes is only allowed while under the head limit.
      CHECK(in.size() <= kLimits.max_header_bytes + kMaxLeadingBytes);
      break;
    case ParseState::kError:
      CHECK(IsHeadStatus(r.status));
      CHECK(r.reason != nullptr && r.reason[0] != '\0');
      break;
    case ParseState::kDone: {
      CHECK(r.consumed > 0 && r.consumed <= in.size());
      CHECK(r.consumed <= kLimits.max_header_bytes + kMaxLeadingBytes);
      const char last = in[r.consumed - 1];
      CHECK(last == '\n');
      CHECK(req.version_minor == 0 || req.version_minor == 1);
      CHECK(!req.method_text.empty() && Within(req.method_text, in));
      CHECK(!req.target.empty() && req.target.size() <= kLimits.max_target_bytes);
      CHECK(Within(req.target, in));
      CHECK(!req.path.empty() && (req.path[0] == '/' || req.path == "*"));
      CHECK(req.path.find('#') == std::string_view::npos);
      CHECK(req.query.find('#') == std::string_view::npos);
      CHECK(req.headers.size() <= kLimits.max_header_count);
      for (const auto& h : req.headers) {
        CHECK(!h.name.empty() && Within(h.name, in) && Within(h.value, in));
        for (unsigned char c : h.name) CHECK(hearth::IsTokenChar(c));
      }
      for (char c : req.HostName()) CHECK(!(c >= 'A' && c <= 'Z'));
      if (req.version_minor == 1) CHECK(req.HasHeader("host"));
      if (req.framing == BodyFraming::kLength) {
        CHECK(req.content_length > 0 && req.content_length <= kLimits.max_body_bytes);
      }
      if (req.framing == BodyFraming::kChunked) CHECK(req.version_minor == 1);
      if (req.framing == BodyFraming::kNone) CHECK(!req.expect_continue);
      break;
    }
  }
}

// The same bytes arriving as in[0, k1), then in[0, k2), then all of `in`.
HeadResult ParseInPieces(std::string_view in, size_t k1, size_t k2, Request* req) {
  size_t prev = 0;
  HeadResult r;
  for (size_t n : {k1, k2, in.size()}) {
    if (n <= prev || n > in.size()) continue;
    req->Reset();
    r = ParseRequestHead(in.substr(0, n), kLimits, req, prev);
    if (r.state != ParseState::kIncomplete) return r;
    prev = n;
  }
  return r;
}

struct ChunkOutcome {
  ParseState state = ParseState::kIncomplete;
  size_t consumed = 0;
  int status = 0;
  std::string body;
};

// Feeds `in` to a fresh decoder: first `split` bytes, then the rest in pieces
// of `step` bytes (step 0: the rest at once).
ChunkOutcome Decode(std::string_view in, size_t split, size_t step) {
  ChunkedDecoder d;
  ChunkOutcome out;
  const char* reason = "";
  size_t pos = 0;
  bool first = true;
  while (true) {
    size_t len = first ? split : (step == 0 ? in.size() - pos : step);
    first = false;
    std::string_view piece = in.substr(pos, len);
    size_t used = 0;
    out.state = d.Feed(piece, &used, &out.body, kLimits.max_body_bytes, &out.status, &reason);
    CHECK(used <= piece.size());
    out.consumed += used;
    pos += piece.size();
    if (out.state == ParseState::kError) {
      CHECK(out.status == 400 || out.status == 413 || out.status == 431);
      CHECK(reason != nullptr && reason[0] != '\0');
      break;
    }
    if (out.state == ParseState::kDone) break;
    CHECK(used == piece.size());  // kIncomplete consumes everything it was given
    if (pos >= in.size()) break;
  }
  CHECK(out.body.size() <= kLimits.max_body_bytes);
  return out;
}

bool SameChunkOutcome(const ChunkOutcome& a, const ChunkOutcome& b) {
  if (a.state != b.state || a.consumed != b.consumed) return false;
  if (a.state == ParseState::kError) return a.status == b.status;
  return a.body == b.body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const uint8_t s0 = size > 0 ? data[0] : 0;
  const uint8_t s1 = size > 1 ? data[1] : 0;

  Request req;
  Request pieces_req;
  for (int n = 0; n < kMaxRequestsPerInput && !in.empty(); ++n) {
    req.Reset();
    HeadResult whole = ParseRequestHead(in, kLimits, &req);
    CheckHeadContract(in, whole, req);

    // Incremental parsing must agree with whole-buffer parsing.
    size_t k1 = in.size() > 1 ? 1 + s0 % (in.size() - 1) : in.size();
    size_t k2 = k1 + (in.size() - k1) * s1 / 256;
    HeadResult pieces = ParseInPieces(in, k1, k2, &pieces_req);
    CHECK(pieces.state == whole.state);
    if (whole.state == ParseState::kDone) CHECK(pieces.consumed == whole.consumed);

    if (whole.state != ParseState::kDone) break;
    in.remove_prefix(whole.consumed);

    if (req.framing == BodyFraming::kLength) {
      if (req.content_length > in.size()) break;
      in.remove_prefix(static_cast<size_t>(req.content_length));
    } else if (req.framing == BodyFraming::kChunked) {
      ChunkOutcome all = Decode(in, in.size(), 0);
      if (all.state == ParseState::kIncomplete) CHECK(all.consumed == in.size());
      ChunkOutcome bytewise = Decode(in, in.empty() ? 0 : 1, 1);
      CHECK(SameChunkOutcome(all, bytewise));
      size_t split = in.empty() ? 0 : s1 % (in.size() + 1);
      ChunkOutcome two = Decode(in, split, 0);
      CHECK(SameChunkOutcome(all, two));
      if (all.state != ParseState::kDone) break;
      in.remove_prefix(all.consumed);
    }
  }
  return 0;
}

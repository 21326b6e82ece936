#pragma once
// HTTP/1.1 request parsing (RFC 9112), hand-written and strict: anything
// ambiguous or hostile is refused with the status a client should see.
//
// Refusals and their statuses:
//   400  malformed request line or header, invalid character in a name or value,
//        obs-fold, whitespace before ':', missing/duplicate Host in HTTP/1.1,
//        Content-Length with Transfer-Encoding, conflicting Content-Lengths,
//        chunked not last, Transfer-Encoding in HTTP/1.0, bad chunk framing,
//        a path that http/path.h refuses (which is normalised otherwise)
//   413  declared or decoded body over the limit
//   414  request target over the limit
//   417  an Expect other than 100-continue
//   431  header section over the limit (bytes or count)
//   501  a transfer coding other than chunked; CONNECT
//   505  an HTTP major version other than 1
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.h"

namespace hearth {

struct H1Limits {
  size_t max_header_bytes = 16 * 1024;  // the whole head: request line and fields
  size_t max_target_bytes = 8 * 1024;
  size_t max_header_count = 100;
  uint64_t max_body_bytes = 64ull << 20;
};

enum class ParseState { kIncomplete, kDone, kError };

struct HeadResult {
  ParseState state = ParseState::kIncomplete;
  size_t consumed = 0;      // kDone: bytes of the head, including the blank line
  int status = 0;           // kError: the status to answer with
  const char* reason = "";  // kError: one line for the error body
};

// Parses one request head at the start of `buf`. On kDone, `req` views point
// into `buf`. `scan_from` lets a caller that got kIncomplete skip bytes it
// already searched (pass the previous buffer size; 0 the first time).
HeadResult ParseRequestHead(std::string_view buf, const H1Limits& limits, Request* req,
                            size_t scan_from = 0);

// An upstream's response head (the reverse proxy reads these).
struct ResponseHead {
  int status = 0;
  int version_minor = 1;
  std::vector<HeaderField> headers;  // views into the parsed buffer
  // How the body ends: kLength (`content_length` bytes), kChunked, or kNone
  // with `until_close` (the connection's end is the body's end). Statuses and
  // methods without a body are the caller's to know (1xx, 204, 304, HEAD).
  BodyFraming framing = BodyFraming::kNone;
  bool until_close = false;
  uint64_t content_length = 0;
  bool keep_alive = true;  // the connection may carry another request
  // What the version and Connection field say alone (for an answer that has
  // no body whatever its framing says: 204, 304, HEAD).
  bool persistent = true;
};

// Parses one response head at the start of `buf`, as strictly as requests
// (RFC 9112 §4, §6.3): a malformed status line or field, conflicting lengths
// or an unknown transfer coding are errors (a proxy answers 502 for them).
// Transfer-Encoding with Content-Length: chunked wins, and the connection is
// not reused. `scan_from` as for ParseRequestHead.
HeadResult ParseResponseHead(std::string_view buf, const H1Limits& limits, ResponseHead* head,
                             size_t scan_from = 0);

// Incremental decoder for a chunked request body; trailers are read and dropped.
class ChunkedDecoder {
 public:
  void Reset() { *this = ChunkedDecoder(); }
  // Consumes bytes of `in` (all of them unless it reaches the end of the body),
  // appending data to *body (which the caller may empty between calls). kDone
  // once the last chunk and trailers are read; 413 once the chunks declared
  // add up to more than max_body.
  ParseState Feed(std::string_view in, size_t* consumed, std::string* body, uint64_t max_body,
                  int* status, const char** reason);

 private:
  enum class S {
    kSize,
    kSizeWs,
    kExt,
    kSizeLf,
    kData,
    kDataCr,
    kDataLf,
    kTrailerStart,
    kTrailerLine,
    kTrailerLf,
    kEndLf,
    kDone
  };
  S s_ = S::kSize;
  uint64_t size_ = 0;
  int digits_ = 0;
  uint64_t remaining_ = 0;
  uint64_t total_ = 0;  // data bytes declared by the chunks so far
  size_t ext_bytes_ = 0;
  size_t trailer_bytes_ = 0;
};

// tchar from RFC 9110 §5.6.2.
bool IsTokenChar(unsigned char c);

// Whether a Host value (or an HTTP/2 :authority) has only the characters a
// host[:port] may have.
bool IsValidHostText(std::string_view host);

}  // namespace hearth

#pragma once
// multipart/form-data (RFC 7578) bodies: parsed whole (the parts' names,
// file names, content types and bytes as views into the body), or read as
// they arrive (MultipartReader: a part's bytes are handed on and not held).
// Strict, both the same way: a malformed body is refused rather than
// guessed at.
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hearth {

struct FormPart {
  std::string name;
  std::string filename;  // "" for a plain field
  std::string content_type;
  std::string_view data;  // into the body passed to ParseMultipart
};

// The boundary from a Content-Type ("multipart/form-data; boundary=..."), or
// an Error when it is not multipart/form-data or has no usable boundary.
Result<std::string> MultipartBoundary(std::string_view content_type);

// Splits `body` into its parts. At most 1000 parts.
Result<std::vector<FormPart>> ParseMultipart(std::string_view body, std::string_view boundary);

// Reads a multipart/form-data body piece by piece, as ParseMultipart would
// read it whole (same grammar and limits, but a part's header line at most
// 16 KiB and the number of parts as given), holding little more than a
// boundary's length of it between pieces. What it reads goes to
// the Events; an Error from them stops the reading.
class MultipartReader {
 public:
  class Events {
   public:
    virtual ~Events() = default;
    // A part begins: its name, filename and content type (data empty).
    virtual Status OnPart(const FormPart& head) = 0;
    // The part's next bytes (a part's bytes may come in any number of pieces).
    virtual Status OnData(std::string_view bytes) = 0;
    virtual Status OnPartEnd() = 0;
  };
  // `max_parts`: more is an Error (ParseMultipart's bound is 1000).
  MultipartReader(std::string_view boundary, Events* events, size_t max_parts = 1000);
  // The body's next bytes. After an Error, every call returns it again.
  Status Feed(std::string_view bytes);
  // The body is complete: an Error unless it ended with its closing boundary.
  Status Finish();

 private:
  enum class State { kStart, kAfterDelimiter, kHeaders, kData, kDone };
  Status Fail(std::string message);
  Status Step(bool* progressed);

  std::string delim_;  // "--" boundary
  std::string next_;   // "\r\n--" boundary: ends a part's data
  Events* events_;
  State state_ = State::kStart;
  std::string buf_;  // bytes not yet read start at pos_
  size_t pos_ = 0;
  size_t parts_ = 0, max_parts_;
  FormPart part_;
  std::string error_;
};

}  // namespace hearth

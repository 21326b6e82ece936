#pragma once
// multipart/form-data (RFC 7578) bodies, parsed whole: the parts' names,
// file names, content types and bytes (views into the body). Strict: a
// malformed body is refused rather than guessed at.
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

}  // namespace hearth

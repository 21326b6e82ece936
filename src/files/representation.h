#pragma once
// Answering GET/HEAD for one stored representation (a file on disk, a blob in
// the store) with HTTP's validators and ranges, the same way wherever it lives:
//   If-None-Match (weak comparison, "*") or else If-Modified-Since -> 304
//   Range: bytes=a-b | a- | -n (one range)      -> 206 with Content-Range
//   a range past the end                       -> 416 with Content-Range: bytes */SIZE
//   If-Range with another validator, several ranges, a malformed Range -> 200
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "http/request.h"
#include "http/response.h"

namespace hearth {

struct Representation {
  std::string_view etag;           // strong, quoted
  std::string_view last_modified;  // IMF-fixdate, or empty
  int64_t mtime_s = -1;            // for If-Modified-Since; -1: none
  std::string_view fields;         // header fields for 200/206 (Content-Type, ETag, ...)
  uint64_t size = 0;
  std::shared_ptr<const std::string> content;  // the bytes, or
  std::shared_ptr<SharedFd> fd;                // an open file to sendfile from, or
  // a producer of the range [start, start + len) in pieces (a large blob)
  std::function<std::function<bool(std::string&)>(uint64_t start, uint64_t len)> open_stream;
};

void ServeRepresentation(const Request& req, Response& res, const Representation& rep);

}  // namespace hearth

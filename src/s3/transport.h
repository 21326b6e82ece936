#pragma once
// One HTTP exchange of the S3 client, as data, and the function that makes
// it. The client only builds HttpCalls and reads HttpAnswers, so unit tests
// swap in a function that answers from a table (no socket, no sleep), and
// the real one (CurlTransport) is libcurl, loaded at run time (io/curl_lib.h).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "s3/sigv4.h"

namespace hearth::s3 {

struct HttpCall {
  std::string method;  // GET PUT POST DELETE HEAD
  std::string url;
  std::vector<std::string> headers;  // "Name: value", Authorization included
  // The body: `body` bytes, or `body_length` bytes of `body_file` from
  // `body_offset` (read as it is sent, never whole in memory).
  std::string body;
  std::string body_file;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;
  // When set, a 2xx answer's body goes to this file (created or truncated)
  // instead of HttpAnswer::body.
  std::string save_to;
  size_t max_body = 64u << 20;  // in-memory answers larger than this are an error
  long connect_timeout_ms = 10000;
  long timeout_ms = 600000;

  uint64_t BodySize() const { return body_file.empty() ? body.size() : body_length; }
};

struct HttpAnswer {
  long status = 0;
  std::string body;
  Pairs headers;                                    // names in lower case
  std::string Header(std::string_view name) const;  // "" when absent
};

// The answer (any status), or an error for what never got one (refused
// connection, timeout, DNS): those are the retryable network errors.
using Transport = std::function<Result<HttpAnswer>(const HttpCall&)>;

Transport CurlTransport();

}  // namespace hearth::s3

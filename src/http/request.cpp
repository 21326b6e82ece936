// Request's methods (request.h): header lookup, reuse between requests on a
// connection, the path's normal form; and a method's name to its enum.
#include "http/request.h"

#include <string_view>

#include "base/strings.h"
#include "http/path.h"

namespace hearth {

Method MethodFromText(std::string_view m) {
  switch (m.size()) {
    case 3:
      if (m == "GET") return Method::kGet;
      if (m == "PUT") return Method::kPut;
      break;
    case 4:
      if (m == "HEAD") return Method::kHead;
      if (m == "POST") return Method::kPost;
      break;
    case 5:
      if (m == "PATCH") return Method::kPatch;
      if (m == "TRACE") return Method::kTrace;
      break;
    case 6:
      if (m == "DELETE") return Method::kDelete;
      break;
    case 7:
      if (m == "OPTIONS") return Method::kOptions;
      if (m == "CONNECT") return Method::kConnect;
      break;
  }
  return Method::kOther;
}

std::string_view Request::Header(std::string_view name) const {
  for (const auto& h : headers)
    if (EqualsIgnoreCase(h.name, name)) return h.value;
  return {};
}

bool Request::HasHeader(std::string_view name) const {
  for (const auto& h : headers)
    if (EqualsIgnoreCase(h.name, name)) return true;
  return false;
}

void Request::Reset() {
  method = Method::kGet;
  method_text = target = path = query = authority = {};
  version_minor = 1;
  keep_alive = true;
  expect_continue = false;
  framing = BodyFraming::kNone;
  content_length = 0;
  headers.clear();
  body.clear();
  body_pending = false;
  body_sink.reset();
  client_ip.clear();
  host_lower_.clear();
  path_buf_.clear();
  start_micros = 0;
}

bool Request::NormalizePath() {
  if (path.empty() || path[0] != '/') return true;   // "*" (OPTIONS): no path to normalise
  if (path.data() == path_buf_.data()) return true;  // already done: `path` is the normal form
  switch (hearth::NormalizePath(path, &path_buf_)) {
    case PathNormal::kUnchanged:
      return true;
    case PathNormal::kRewritten:
      path = path_buf_;
      return true;
    case PathNormal::kRefused:
      return false;
  }
  return false;
}

}  // namespace hearth

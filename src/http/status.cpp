#include <string_view>

#include "http/path.h"
#include "http/request.h"
#include "http/response.h"
#include "base/strings.h"

namespace hearth {

std::string_view StatusReason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

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
  if (path.empty() || path[0] != '/') return true;  // "*" (OPTIONS): no path to normalise
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

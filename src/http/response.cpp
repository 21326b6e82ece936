#include "http/response.h"

#include "base/strings.h"

namespace hearth {

void Response::SetHeader(std::string_view name, std::string_view value) {
  fields.append(name);
  fields.append(": ");
  fields.append(value);
  fields.append("\r\n");
}

std::string_view Response::FindHeader(std::string_view name) const {
  std::string_view f = fields;
  while (!f.empty()) {
    size_t eol = f.find("\r\n");
    std::string_view line = f.substr(0, eol);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && EqualsIgnoreCase(line.substr(0, colon), name))
      return TrimOws(line.substr(colon + 1));
    if (eol == std::string_view::npos) break;
    f.remove_prefix(eol + 2);
  }
  return {};
}

void Response::SetText(int status_code, std::string_view content_type, std::string body) {
  status = status_code;
  body_kind = BodyKind::kText;
  text = std::move(body);
  SetHeader("Content-Type", content_type);
}

void Response::SetShared(std::shared_ptr<const std::string> data, uint64_t off, uint64_t len) {
  body_kind = BodyKind::kShared;
  shared = std::move(data);
  offset = off;
  length = len;
}

void Response::SetFile(std::shared_ptr<SharedFd> fd, uint64_t off, uint64_t len) {
  body_kind = BodyKind::kFile;
  file = std::move(fd);
  offset = off;
  length = len;
}

void Response::SetError(int status_code, std::string_view reason) {
  std::string body;
  AppendUint(&body, static_cast<uint64_t>(status_code));
  body.push_back(' ');
  body.append(StatusReason(status_code));
  body.push_back('\n');
  if (!reason.empty()) {
    body.append(reason);
    body.push_back('\n');
  }
  SetText(status_code, "text/plain; charset=utf-8", std::move(body));
}

void Response::SetStream(std::function<bool(std::string& out)> pull, uint64_t len) {
  body_kind = BodyKind::kStream;
  stream = std::move(pull);
  stream_sized = true;
  offset = 0;
  length = len;
}

uint64_t Response::BodyLength() const {
  switch (body_kind) {
    case BodyKind::kText:
      return text.size();
    case BodyKind::kShared:
    case BodyKind::kFile:
      return length;
    default:
      return 0;
  }
}

std::function<void()> Response::MakeWaker() const {
  if (!waker_factory_ || !*waker_factory_) return nullptr;
  return (*waker_factory_)(connection_id_);
}

std::shared_ptr<Reply> Response::Defer() {
  if (!reply_factory_ || !*reply_factory_) return nullptr;
  deferred_ = true;
  return (*reply_factory_)(connection_id_);
}

void Response::Reset() {
  deferred_ = false;
  h2_stream_ = 0;
  status = 200;
  body_kind = BodyKind::kNone;
  text.clear();
  shared.reset();
  file.reset();
  offset = length = 0;
  stream = nullptr;
  stream_ok = nullptr;
  stream_sized = false;
  stream_endless = false;
  close_connection = false;
  upgrade_sink.reset();
  fields.clear();
}

std::string_view StatusReason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace hearth

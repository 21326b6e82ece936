#include "http/request_clone.h"

namespace hearth {

std::unique_ptr<OwnedRequest> CloneRequest(Request& from, bool take_body) {
  auto out = std::make_unique<OwnedRequest>();
  Request& to = out->request;
  // One allocation for every view's bytes, reserved first so that no view
  // made below is invalidated by a later append.
  size_t total = from.method_text.size() + from.target.size() + from.query.size() +
                 from.authority.size() + from.peer_ip.size() + from.path.size();
  for (const auto& h : from.headers) total += h.name.size() + h.value.size();
  std::string& bytes = out->bytes;
  bytes.reserve(total);
  auto keep = [&bytes](std::string_view v) {
    size_t at = bytes.size();
    bytes.append(v);
    return std::string_view(bytes.data() + at, v.size());
  };
  to.method = from.method;
  to.method_text = keep(from.method_text);
  to.target = keep(from.target);
  // The path in its normal form may live in the request's own buffer.
  to.path_buf_ = from.path_buf_;
  if (!from.path_buf_.empty() && from.path.data() == from.path_buf_.data())
    to.path = std::string_view(to.path_buf_.data(), from.path.size());
  else
    to.path = keep(from.path);
  to.query = keep(from.query);
  to.authority = keep(from.authority);
  to.version_minor = from.version_minor;
  to.keep_alive = from.keep_alive;
  to.expect_continue = from.expect_continue;
  to.framing = from.framing;
  to.content_length = from.content_length;
  to.headers.reserve(from.headers.size());
  for (const auto& h : from.headers) to.headers.push_back({keep(h.name), keep(h.value)});
  if (take_body)
    to.body = std::move(from.body);
  else
    to.body = from.body;
  to.body_pending = from.body_pending;
  to.body_sink = from.body_sink;
  to.peer_ip = keep(from.peer_ip);
  to.client_ip = from.client_ip;
  to.tls = from.tls;
  to.start_micros = from.start_micros;
  to.host_lower_ = from.host_lower_;
  return out;
}

}  // namespace hearth

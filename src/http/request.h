#pragma once
// Request: what every protocol (HTTP/1 now, HTTP/2 later) hands to Dispatch().
// Views point into the connection's read buffer and stay valid until the
// handler returns; a handler that needs a value later copies it.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hearth {

enum class Method { kGet, kHead, kPost, kPut, kDelete, kPatch, kOptions, kConnect, kTrace, kOther };
Method MethodFromText(std::string_view text);

struct HeaderField {
  std::string_view name;
  std::string_view value;
};

enum class BodyFraming { kNone, kLength, kChunked };

// Receives a request body as it arrives, for handlers that must not hold a
// whole body in memory (uploads, proxying). Called on the connection's thread.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // The next bytes of the body (decoded, if chunked). Returns how many it
  // took: taking fewer pauses the body until the handler's Reply::Wake().
  virtual size_t OnData(std::string_view bytes) = 0;
  // Called exactly once: the body is complete (`ok`), or it was cut short
  // (peer gone, bad framing, a timeout, or the response went out first).
  virtual void OnEnd(bool ok) = 0;
};

struct Request {
  Method method = Method::kGet;
  std::string_view method_text;
  std::string_view target;  // as sent: origin-form, absolute-form, asterisk
  // Percent-encoded path, always starts with '/' (or "*"), in its normal form
  // (http/path.h) once the protocol has called NormalizePath(): every prefix
  // test and the proxy see that form. May point into `path_buf_`, so a copy
  // of a Request must set its own `path`.
  std::string_view path;
  std::string_view query;      // after '?', without it
  std::string_view authority;  // host[:port] from the absolute-form target or Host
  int version_minor = 1;       // HTTP/1.0 or HTTP/1.1 (2 for HTTP/2)
  bool keep_alive = true;
  bool expect_continue = false;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  std::vector<HeaderField> headers;
  std::string body;
  // Set for routes that stream bodies (Router::Add with stream_body) when the
  // request has a body: none of it is in `body`. The handler either sets
  // `body_sink` (and usually defers its response) or answers without reading
  // the body, in which case the connection closes after the response.
  bool body_pending = false;
  std::shared_ptr<BodySink> body_sink;
  std::string_view peer_ip;
  // The client's address when a trusted proxy forwarded it (guard); empty:
  // the peer is the client.
  std::string client_ip;
  std::string_view ClientIp() const {
    return client_ip.empty() ? peer_ip : std::string_view(client_ip);
  }
  bool tls = false;  // arrived over HTTPS
  int64_t start_micros = 0;

  // First header with this name (case-insensitive), or "" if absent.
  std::string_view Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // Host without the port, lower-cased into `host_lower_`.
  std::string_view HostName() const { return host_lower_; }

  void Reset();  // keeps capacity for the next request on the connection

  // Brings `path` to its normal form (http/path.h), rewriting it into
  // `path_buf_` only when it changes. False: the path must be refused (400).
  bool NormalizePath();

  std::string host_lower_;
  std::string path_buf_;
};

}  // namespace hearth

#pragma once
// Response: what a handler fills in. The protocol layer adds framing headers
// (Date, Server, Content-Length or chunked, Connection) and writes it out.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "http/request.h"
#include "io/out_queue.h"

namespace hearth {

struct Response;

// A response a handler finishes later, from any thread (after a store write,
// an upstream's answer, ...). Finish() hands `fill` to the connection's own
// thread, which fills the Response and sends it. Calling Finish() more than
// once does nothing; a Reply dropped without Finish() answers 500. If the
// connection closed meanwhile, `fill` is dropped.
class Reply {
 public:
  virtual ~Reply() = default;
  virtual void Finish(std::function<void(Response&)> fill) = 0;
  // Drives the connection again from its own thread: a BodySink that paused
  // (took fewer bytes than offered) is offered the rest. Any thread.
  virtual void Wake() = 0;
};

using ReplyFactory = std::function<std::shared_ptr<Reply>(uint64_t connection_id)>;
// Makes a function that drives a connection again from any thread (for a
// stream that returned an empty piece: it has more now).
using WakerFactory = std::function<std::function<void()>(uint64_t connection_id)>;

struct Response {
  enum class BodyKind {
    kNone,    // no body (e.g. 204, 304)
    kText,    // `text`
    kShared,  // `shared` [offset, offset+length): immutable bytes shared with a cache
    kFile,    // `file` [offset, offset+length): sent with sendfile
    kStream,  // `stream` is pulled until it returns false: chunked, or with
              // Content-Length when `stream_sized` (then exactly `length` bytes)
  };

  int status = 200;
  BodyKind body_kind = BodyKind::kNone;
  std::string text;
  std::shared_ptr<const std::string> shared;
  std::shared_ptr<SharedFd> file;
  uint64_t offset = 0;
  uint64_t length = 0;
  // Appends the next piece to `out`; returns false when the body is complete.
  // An empty piece with true means "nothing yet": the connection stops
  // pulling until the stream's waker (MakeWaker) is called.
  std::function<bool(std::string& out)> stream;
  bool stream_sized = false;
  // Asked once `stream` has returned false: false means the body broke (an
  // upstream that died mid-body), and the client must not see a complete
  // one: HTTP/1 closes without the last chunk, HTTP/2 resets the stream.
  // Null: a stream's end is always whole.
  std::function<bool()> stream_ok;
  // An event stream with no natural end (SSE): on a graceful stop it ends at
  // once, so the server does not wait for it (clients reconnect), where a
  // download is let finish.
  bool stream_endless = false;
  bool close_connection = false;  // handler asks the connection to close after this
  // A 101 (Switching Protocols) answer to an HTTP/1.1 Upgrade request: after
  // the head, the connection is a tunnel. `stream` gives the bytes for the
  // client as they come (no framing); this sink takes every byte the client
  // sends, with the same pause rule as a body (OnEnd(true) when the client
  // half-closes). The connection closes when the stream ends.
  std::shared_ptr<BodySink> upgrade_sink;

  // Header fields other than the framing ones, already serialized
  // ("Name: value\r\n" each); cheap to append, reused across requests.
  std::string fields;

  void SetHeader(std::string_view name, std::string_view value);
  // Value of a header set by the handler, or "" (a linear scan: rare use).
  std::string_view FindHeader(std::string_view name) const;
  // A small text body with its Content-Type.
  void SetText(int status_code, std::string_view content_type, std::string body);
  void SetShared(std::shared_ptr<const std::string> data, uint64_t off, uint64_t len);
  void SetFile(std::shared_ptr<SharedFd> fd, uint64_t off, uint64_t len);
  // A body of known length produced piece by piece (a large blob read from the
  // store). A stream that ends early or fails closes the connection, so the
  // client sees a short body, never a wrong one.
  void SetStream(std::function<bool(std::string& out)> pull, uint64_t len);
  // A short plain-text error page: "404 Not Found\n" plus an optional reason line.
  void SetError(int status_code, std::string_view reason = {});
  uint64_t BodyLength() const;  // for kText/kShared/kFile

  // Defers this response: the handler returns at once and finishes through
  // the returned Reply. The Request's views die when the handler returns: copy
  // what the later work needs. Null if the protocol layer cannot defer.
  std::shared_ptr<Reply> Defer();
  bool deferred() const { return deferred_; }
  // A function, callable from any thread, that makes this connection pull its
  // stream again (see `stream`). Null if the protocol layer cannot wake.
  std::function<void()> MakeWaker() const;

  void Reset();

  // Set by the protocol layer before each dispatch.
  const ReplyFactory* reply_factory_ = nullptr;
  const WakerFactory* waker_factory_ = nullptr;
  uint64_t connection_id_ = 0;
  bool deferred_ = false;
  // HTTP/2: the stream a deferred answer belongs to (set by its Reply).
  uint32_t h2_stream_ = 0;
};

// "Not Found" for 404; "Unknown" for codes it does not know.
std::string_view StatusReason(int status);

}  // namespace hearth

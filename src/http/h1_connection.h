#pragma once
// H1Connection: one HTTP/1.1 connection's protocol state, with no socket in it.
// The worker feeds it bytes (ReadBuffer/OnRead), calls Advance(), and writes
// out() to the socket; tests drive it the same way with no socket at all.
//
// States:
//
//   kHead --head with body--> kBody --body complete--> (dispatch) --> kHead
//     |  \--head, no body--> (dispatch) --------------------------/    |
//     |                          \--stream body--> kStreaming --done--/
//     |                          \--deferred----> kWaiting --Resume()--/
//     |  \--head, streamed body--> (dispatch) --> kBody into a BodySink --> kWaiting
//     +--parse error, Connection: close, peer EOF, shutdown--> kClosing
//
// Responses go out in request order: a pipelined request is parsed only after
// the previous response is fully queued, and not at all while more than
// kHighWater bytes wait to be written (backpressure on the client).
#include <cstdint>
#include <functional>
#include <string>

#include "http/connection.h"
#include "http/h1_parser.h"
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"
#include "io/out_queue.h"

namespace hearth {

// What a connection needs from its worker. Shared by all of a worker's
// connections; the worker may change `limits` between requests (reload).
// Where a request's body goes: read whole into Request::body (up to
// max-body-size), streamed to its handler (likewise bounded), or streamed with
// no bound of hearth's own (the proxy: the upstream decides, and memory stays
// bounded whatever the size).
enum class BodyRoute { kBuffer, kStream, kStreamAnySize };

struct H1Context {
  const Handler* handler = nullptr;
  H1Limits limits;
  const std::string* date_line = nullptr;  // "Date: ...\r\n", kept fresh by the worker
  // Called once per answered request. `refused`: answered by the protocol layer
  // itself (malformed, over a limit, timed out); the request may be partial.
  std::function<void(const Request&, int status, uint64_t bytes_out, int64_t micros, bool refused)>
      on_request;
  // Makes the Reply a deferring handler gets (see Response::Defer).
  ReplyFactory make_reply;
  // Makes the waker a streaming handler gets (see Response::MakeWaker).
  WakerFactory make_waker;
  // Whether a request's body goes to its handler as it arrives (dispatch at
  // the head, Request::body_pending) instead of being read whole first.
  std::function<BodyRoute(const Request&)> body_route;
  // An HTTP/2 peer was cut off for abuse ("rapid_reset", "continuation_flood", "flood").
  std::function<void(const char* what)> on_abuse;
};

class H1Connection : public HttpConnection {
 public:
  static constexpr uint64_t kHighWater = 256 * 1024;

  // `id` identifies the connection to its worker (for deferred replies).
  H1Connection(const H1Context* ctx, std::string peer_ip, uint64_t id = 0);
  // Requests on this connection arrived over TLS (Request::tls).
  void SetTls(bool tls) override { tls_ = tls; }
  ~H1Connection() override;  // a body still streaming ends for its sink (not ok)
  H1Connection(const H1Connection&) = delete;
  H1Connection& operator=(const H1Connection&) = delete;

  // Space to read into (at least 2 KiB unless the head limit is reached).
  char* ReadBuffer(size_t* space) override;
  void OnRead(size_t n) override;
  void OnPeerEof() override;
  // Parses, dispatches and streams as far as it can without blocking.
  void Advance() override;
  OutQueue& out() override { return out_; }

  bool ShouldClose() const override { return state_ == State::kClosing; }
  bool InBody() const override { return state_ == State::kBody; }
  bool BodyRateExempt() const override { return max_body_ == UINT64_MAX; }
  bool Streaming() const override { return state_ == State::kStreaming; }
  // A handler deferred its response: read nothing until Resume().
  bool Waiting() const override { return state_ == State::kWaiting; }
  // A BodySink took fewer bytes than offered: read nothing until Unpause().
  bool BodyPaused() const override { return sink_paused_; }
  // The sink is ready again (its Reply::Wake()); call Advance() after.
  void Unpause() override { sink_paused_ = false; }
  // Finishes a deferred response: `fill` fills it, then it is sent and the
  // connection goes on with buffered requests (call Advance()). A response
  // finished while its body still streams in ends the body and the connection.
  void Resume(const std::function<void(Response&)>& fill) override;
  // Bytes of an unfinished request are buffered (header timeout applies).
  bool HasPartialHead() const override { return state_ == State::kHead && rstart_ != rend_; }
  bool Backpressured() const override { return out_.bytes() > kHighWater; }
  bool HasBufferedInput() const override { return rstart_ != rend_; }
  // Graceful stop: finish the request in flight, then close. An idle
  // connection closes at once if close_if_idle; an endless stream (SSE)
  // ends now (its last chunk queued).
  void BeginShutdown(bool close_if_idle) override;
  // Answers `status` (e.g. 408) and closes; used by timeouts.
  void FailWith(int status, const char* reason) override;

 private:
  enum class State { kHead, kBody, kStreaming, kWaiting, kClosing };

  bool StepHead();
  bool StepBody();
  bool StepSinkBody();
  void FeedTunnel();
  bool EndSinkBody();
  void AbortSink();
  void Dispatch();
  void DispatchStreaming();
  void Complete();  // after the handler (or Resume): serialize, account, next state
  void Serialize(bool close);
  void PumpStream();
  void Consume(size_t n);
  void DiscardInput();
  void RespondError(int status, const char* reason);

  const H1Context* ctx_;
  std::string peer_ip_;
  bool tls_ = false;
  uint64_t id_;
  State state_ = State::kHead;
  bool peer_eof_ = false;
  bool shutting_down_ = false;

  std::string rbuf_;
  size_t rstart_ = 0, rend_ = 0;
  size_t scan_from_ = 0;
  std::string head_store_;  // the head, while its body arrives over several reads
  ChunkedDecoder chunked_;

  Request req_;
  Response res_;
  OutQueue out_;
  std::function<bool(std::string&)> stream_;
  std::function<bool()> stream_ok_;
  uint64_t max_body_ = 0;  // the current request's body bound (its route's)
  bool stream_chunked_ = false;
  int stream_status_ = 0;
  uint64_t stream_left_ = 0;  // a sized stream's bytes still to send (UINT64_MAX: unsized)
  bool stream_endless_ = false;

  bool reply_pending_ = false;  // dispatched, deferred, not yet resumed
  bool force_close_ = false;    // the body was left unread: close after the response
  bool discard_input_ = false;  // ...and what still comes of it is dropped
  std::shared_ptr<BodySink> sink_;
  // After a 101: the client's bytes go here, raw, until it half-closes.
  std::shared_ptr<BodySink> tunnel_;
  bool sink_paused_ = false;
  bool sink_chunks_done_ = false;
  uint64_t sink_remaining_ = 0;  // Content-Length bytes not yet given to the sink
  std::string sink_buf_;         // decoded chunked bytes the sink has not taken
  size_t sink_off_ = 0;
};

}  // namespace hearth

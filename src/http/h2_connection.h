#pragma once
// H2Connection: one HTTP/2 connection (RFC 9113) on nghttp2, with no socket
// in it, driven by the worker exactly like an H1Connection. Each stream's
// request goes through the same Dispatch() as HTTP/1; deferred replies and
// stream wakers come back through the worker's mailbox and find their
// stream here.
//
// Request bodies: routes whose body_route is kBuffer get them whole, no
// larger than max-body-size (413), and all the connection's buffered bodies
// together no larger than that either. Streaming routes are dispatched at
// the head and their BodySink gets DATA as it arrives; window updates follow
// what the sink takes, so a paused sink holds the client back (at most one
// stream window, 1 MiB, is held per stream).
//
// Limits and abuse: at most kMaxStreams concurrent streams, a header list no
// larger than the HTTP/1 head limit, and bounded queues of control frames. A peer that resets
// streams faster than kResetBurst then kResetsPerSecond (rapid reset, CVE-2023-44487), floods
// CONTINUATION frames, or sends SETTINGS/PING faster than we answer them is
// sent GOAWAY(ENHANCE_YOUR_CALM) and closed; on_abuse counts it.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http/connection.h"
#include "http/h1_connection.h"

namespace hearth {

// The connection preface a client starts HTTP/2 with ("PRI * HTTP/2.0...").
extern const char kH2Preface[];
constexpr size_t kH2PrefaceLength = 24;

class H2Connection : public HttpConnection {
 public:
  static constexpr uint32_t kMaxStreams = 128;
  static constexpr int kResetBurst = 200;
  static constexpr int kResetsPerSecond = 100;

  H2Connection(const H1Context* ctx, std::string peer_ip, uint64_t id);
  ~H2Connection() override;
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  void SetTls(bool tls) override { tls_ = tls; }
  char* ReadBuffer(size_t* space) override;
  void OnRead(size_t n) override;
  void OnPeerEof() override;
  void Advance() override;
  OutQueue& out() override { return out_; }
  bool ShouldClose() const override;
  bool InBody() const override { return false; }
  // Streams are open (a response in progress, or a deferred one awaited).
  bool Streaming() const override { return !streams_.empty(); }
  bool Waiting() const override { return false; }  // other streams go on
  bool BodyPaused() const override { return false; }
  void Unpause() override;
  void Resume(const std::function<void(Response&)>& fill) override;
  bool HasPartialHead() const override { return false; }
  bool Backpressured() const override { return out_.bytes() > H1Connection::kHighWater; }
  bool HasBufferedInput() const override { return false; }
  bool WantsWrite() const override;
  void BeginShutdown(bool close_if_idle) override;
  void FailWith(int status, const char* reason) override;

  struct Stream;

 private:
  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnHeader(nghttp2_session*, const nghttp2_frame*, const uint8_t*, size_t,
                      const uint8_t*, size_t, uint8_t, void*);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnDataChunk(nghttp2_session*, uint8_t, int32_t, const uint8_t*, size_t, void*);
  static int OnStreamClose(nghttp2_session*, int32_t, uint32_t, void*);
  static ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t*, size_t, uint32_t*,
                          nghttp2_data_source*, void*);

  // Fills the stream's Request from its header fields (and a fresh Response).
  void Prepare(Stream* s);
  // The status a malformed or oversized request gets before any handler (0: none).
  int Refusal(const Stream* s) const;
  void Dispatch(Stream* s);
  // The head is complete and a body follows: a streaming route is dispatched now.
  void BeginBody(Stream* s);
  void SubmitContinue(Stream* s);
  void StreamData(Stream* s, std::string_view data);
  void EndSink(Stream* s, bool ok);
  // Opens the flow-control windows for `n` bytes taken from `stream_id`.
  void Consume(int32_t stream_id, size_t n);
  void Submit(Stream* s);
  void Abuse(const char* what);
  void Fatal();

  const H1Context* ctx_;
  std::string peer_ip_;
  uint64_t id_;
  bool tls_ = false;
  nghttp2_session* session_ = nullptr;
  bool fatal_ = false;
  bool peer_eof_ = false;
  bool shutting_down_ = false;
  std::string rbuf_;
  OutQueue out_;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  int32_t dispatching_ = 0;  // the stream whose handler runs now (for Defer)
  ReplyFactory reply_factory_;
  // Rapid reset: a token bucket of stream resets.
  double reset_tokens_ = kResetBurst;
  int64_t reset_refill_ms_ = 0;
  uint32_t continuations_ = 0;  // CONTINUATION frames of the header block being read
  // Request body bytes held by all streams: at most one --max-body-size per
  // connection, as HTTP/1 holds one body at a time.
  uint64_t body_bytes_ = 0;
};

}  // namespace hearth

// libFuzzer target for H1Connection as a whole: arbitrary bytes, arriving in
// pieces whose sizes the input chooses, through pipelining, buffered and
// streamed bodies (BodySink), deferred answers, pauses and early answers. No
// network. Besides "no crash, no leak under ASan/UBSan", it traps when:
//  * a BodySink's OnEnd is not called exactly once by the time the connection
//    is gone, or OnData is called after OnEnd;
//  * a sink that ended ok got more than the body limit.
// Requests to paths starting with "/s" stream their bodies; others are
// buffered, so both paths and their mixing on one connection are exercised.
// Layout of the input: byte 0 picks the piece size (1..64), byte 1 the sink's
// budget per offer (0 = everything), byte 2 flags (bit 0: answer streamed
// requests at the head; bit 1: finish deferred answers before the body ends).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "http/h1_connection.h"

namespace {

using namespace hearth;

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

struct Sink : BodySink {
  size_t budget = 0;
  bool tunnel = false;  // a 101's: unbounded by the body limit
  std::string data;
  int ends = 0;
  bool ok = false;
  size_t OnData(std::string_view bytes) override {
    CHECK(ends == 0);
    size_t n = budget && budget < bytes.size() ? budget : bytes.size();
    data.append(bytes.substr(0, n));
    return n;
  }
  void OnEnd(bool end_ok) override {
    CHECK(ends == 0);
    ++ends;
    ok = end_ok;
  }
};

struct FuzzReply : Reply {
  std::function<void(Response&)> fill;
  int wakes = 0;
  void Finish(std::function<void(Response&)> f) override {
    if (!fill) fill = std::move(f);
  }
  void Wake() override { ++wakes; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  size_t piece = 1 + data[0] % 64;
  size_t budget = data[1] % 8 == 0 ? 0 : data[1] % 97;
  bool answer_at_head = data[2] & 1;
  bool finish_early = data[2] & 2;
  std::string_view in(reinterpret_cast<const char*>(data) + 3, size - 3);

  std::vector<std::shared_ptr<Sink>> sinks;
  std::vector<std::shared_ptr<FuzzReply>> replies;
  Handler handler = [&](Request& req, Response& res) {
    if (req.path.substr(0, 2) == "/u") {
      // Switching protocols: a tunnel whose far side sends three pieces and
      // ends; the client's bytes go to a sink (once ended, exactly once).
      auto s = std::make_shared<Sink>();
      s->budget = budget;
      s->tunnel = true;
      sinks.push_back(s);
      res.status = 101;
      res.SetHeader("Upgrade", "fuzz");
      res.SetHeader("Connection", "Upgrade");
      res.body_kind = Response::BodyKind::kStream;
      res.stream = [left = 3](std::string& out) mutable {
        if (left-- <= 0) return false;
        out = "tunnel";
        return true;
      };
      res.upgrade_sink = s;
      return;
    }
    if (req.path.substr(0, 2) != "/s") {
      res.SetText(200, "text/plain", std::to_string(req.body.size()));
      return;
    }
    if (req.body_pending && answer_at_head) {
      res.SetError(401);
      return;
    }
    res.Defer();
    if (req.body_pending) {
      auto s = std::make_shared<Sink>();
      s->budget = budget;
      sinks.push_back(s);
      req.body_sink = s;
    }
  };
  H1Context ctx;
  ctx.handler = &handler;
  std::string date = "Date: x\r\n";
  ctx.date_line = &date;
  ctx.limits.max_body_bytes = 4096;
  ctx.limits.max_header_bytes = 1024;
  ctx.make_reply = [&](uint64_t) -> std::shared_ptr<Reply> {
    auto r = std::make_shared<FuzzReply>();
    replies.push_back(r);
    return r;
  };
  ctx.body_route = [](const Request& req) {
    if (req.path.substr(0, 3) == "/sa") return BodyRoute::kStreamAnySize;
    return req.path.substr(0, 2) == "/s" ? BodyRoute::kStream : BodyRoute::kBuffer;
  };
  {
    H1Connection conn(&ctx, "127.0.0.1");
    size_t delivered = 0;
    for (int turn = 0; turn < 10000 && !conn.ShouldClose(); ++turn) {
      bool progressed = false;
      if (!conn.Waiting() && !conn.BodyPaused() && delivered < in.size()) {
        size_t space = 0;
        char* buf = conn.ReadBuffer(&space);
        if (space == 0) break;  // the worker closes such a connection
        size_t n = std::min({space, piece, in.size() - delivered});
        memcpy(buf, in.data() + delivered, n);
        conn.OnRead(n);
        delivered += n;
        progressed = true;
      } else if (delivered == in.size() && !conn.Waiting() && !conn.BodyPaused()) {
        conn.OnPeerEof();
      }
      conn.Advance();
      (void)conn.out().DrainToString();
      if (conn.BodyPaused()) {
        conn.Unpause();
        conn.Advance();
        progressed = true;
      }
      // Answer deferred requests: at once if finish_early, else once idle.
      for (auto& r : replies) {
        if (!r->fill && (finish_early || conn.Waiting())) {
          r->Finish([](Response& res) { res.SetText(201, "text/plain", "done"); });
          conn.Resume(r->fill);
          conn.Advance();
          progressed = true;
        }
      }
      (void)conn.out().DrainToString();
      if (!progressed && delivered == in.size()) break;
    }
  }
  for (auto& s : sinks) {
    CHECK(s->ends == 1);
    if (s->ok && !s->tunnel) CHECK(s->data.size() <= 4096);
  }
  return 0;
}

// libFuzzer target for H2Connection: the client preface, then arbitrary
// bytes (frames, or not) arriving in pieces whose size the input chooses.
// Handlers answer at once, defer (answered after each piece, through
// Resume, possibly for streams already reset), or stream a body with a waker.
// Paths under /u stream the request body into a BodySink that takes a part
// of what it is offered (none, half, all) and answers when it ends; /ue
// answers at the head without the body. Besides "no crash, no leak under
// ASan/UBSan", it traps when the connection wants more than its high-water
// mark queued at once after Advance(), or when a BodySink's OnEnd is not
// called exactly once by the time the connection is gone.
// Byte 0 picks the piece size (1..256); the rest follows the preface.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/h2_connection.h"

namespace {

using namespace hearth;

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

struct FuzzReply : Reply {
  std::vector<std::function<void(Response&)>>* fills;
  explicit FuzzReply(std::vector<std::function<void(Response&)>>* f) : fills(f) {}
  void Finish(std::function<void(Response&)> f) override { fills->push_back(std::move(f)); }
  void Wake() override {}
};

struct Sink : BodySink {
  std::shared_ptr<Reply> reply;
  int* ends;
  size_t turn = 0, taken = 0;
  int ended = 0;
  Sink(std::shared_ptr<Reply> r, int* e) : reply(std::move(r)), ends(e) {}
  size_t OnData(std::string_view bytes) override {
    CHECK(ended == 0);
    size_t n = (++turn % 3 == 0) ? 0 : (turn % 3 == 1 ? bytes.size() / 2 : bytes.size());
    taken += n;
    return n;
  }
  void OnEnd(bool ok) override {
    CHECK(++ended == 1);
    ++*ends;
    if (reply) {
      size_t got = taken;
      std::exchange(reply, nullptr)->Finish([ok, got](Response& out) {
        out.SetText(ok ? 200 : 400, "text/plain", std::to_string(got));
      });
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t piece = 1 + data[0];
  std::string in(kH2Preface, kH2PrefaceLength);
  in.append(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::vector<std::function<void(Response&)>> fills;
  int sinks = 0, ends = 0;
  Handler handler = [&](Request& req, Response& res) {
    if (req.path.substr(0, 2) == "/u") {
      if (req.path == "/ue" || !req.body_pending) {
        res.SetText(200, "text/plain", std::to_string(req.body.size()));
        return;
      }
      ++sinks;
      req.body_sink = std::make_shared<Sink>(res.Defer(), &ends);
      return;
    }
    if (req.path == "/defer") {
      auto r = res.Defer();
      r->Finish([body = req.body](Response& out) { out.SetText(201, "text/plain", body); });
      return;
    }
    if (req.path == "/stream") {
      auto n = std::make_shared<int>(0);
      res.body_kind = Response::BodyKind::kStream;
      res.stream = [n](std::string& out) {
        if (++*n % 2) return true;  // nothing yet: wait for the waker
        out.append(100, 'x');
        return *n < 8;
      };
      return;
    }
    res.SetText(200, "text/plain", std::string(req.path) + std::to_string(req.body.size()));
  };
  H1Context ctx;
  ctx.handler = &handler;
  ctx.limits.max_header_bytes = 4096;
  ctx.limits.max_body_bytes = 1 << 16;
  ctx.make_reply = [&](uint64_t) -> std::shared_ptr<Reply> {
    return std::make_shared<FuzzReply>(&fills);
  };
  ctx.make_waker = [](uint64_t) -> std::function<void()> { return [] {}; };
  ctx.body_route = [](const Request& req) {
    if (req.path.substr(0, 3) == "/ua") return BodyRoute::kStreamAnySize;
    return req.path.substr(0, 2) == "/u" ? BodyRoute::kStream : BodyRoute::kBuffer;
  };
  {
    H2Connection conn(&ctx, "127.0.0.1", 1);
    conn.SetTls(true);
    for (size_t off = 0; off < in.size() && !conn.ShouldClose(); off += piece) {
      size_t room = 0;
      char* buf = conn.ReadBuffer(&room);
      size_t n = std::min({piece, in.size() - off, room});
      memcpy(buf, in.data() + off, n);
      conn.OnRead(n);
      conn.Advance();
      std::vector<std::function<void(Response&)>> now;
      now.swap(fills);
      for (auto& f : now) conn.Resume(f);
      conn.Unpause();
      conn.Advance();
      CHECK(conn.out().bytes() <= H1Connection::kHighWater + (1 << 20));
      (void)conn.out().DrainToString();
    }
    conn.BeginShutdown(true);
    (void)conn.out().DrainToString();
  }
  CHECK(ends == sinks);
  return 0;
}

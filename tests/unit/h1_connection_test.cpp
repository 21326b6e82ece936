// The loopback harness: requests go through the real H1Connection and real
// handlers with no socket, bytes in and bytes out.
#include "http/h1_connection.h"

#include <gtest/gtest.h>

#include <cstring>

#include "http/router.h"

namespace hearth {
namespace {

class Loopback {
 public:
  explicit Loopback(Handler h, std::function<bool(const Request&)> streams_body = nullptr)
      : handler_(std::move(h)) {
    ctx_.handler = &handler_;
    if (streams_body)
      ctx_.body_route = [f = std::move(streams_body)](const Request& r) {
        return f(r) ? BodyRoute::kStream : BodyRoute::kBuffer;
      };
    ctx_.date_line = &date_;
    ctx_.on_request = [this](const Request&, int status, uint64_t, int64_t, bool refused) {
      statuses.push_back(status);
      if (refused) ++refused_count;
    };
    ctx_.make_reply = [this](uint64_t) -> std::shared_ptr<Reply> {
      auto r = std::make_shared<TestReply>();
      replies.push_back(r);
      return r;
    };
  }
  // Collects what a deferring handler finishes with; the test resumes by hand,
  // as a worker would on its own thread.
  struct TestReply : Reply {
    void Finish(std::function<void(Response&)> f) override { fill = std::move(f); }
    void Wake() override { ++wakes; }
    std::function<void(Response&)> fill;
    int wakes = 0;
  };
  std::string ResumeLatest() {
    auto r = replies.back();
    conn_.Resume(r->fill);
    conn_.Advance();
    return conn_.out().DrainToString() + Pump();
  }
  std::vector<std::shared_ptr<TestReply>> replies;
  // Feeds bytes in pieces of `chunk` and returns everything the connection wrote.
  std::string Send(std::string_view bytes, size_t chunk = SIZE_MAX) {
    while (!bytes.empty()) {
      size_t space;
      char* buf = conn_.ReadBuffer(&space);
      size_t n = std::min({space, chunk, bytes.size()});
      memcpy(buf, bytes.data(), n);
      conn_.OnRead(n);
      bytes.remove_prefix(n);
      conn_.Advance();
    }
    return conn_.out().DrainToString() + Pump();
  }
  std::string Pump() {
    std::string out;
    for (int i = 0; i < 100 && (conn_.Streaming() || !conn_.out().empty()); ++i) {
      conn_.Advance();
      out += conn_.out().DrainToString();
    }
    return out;
  }
  H1Connection& conn() { return conn_; }
  std::vector<int> statuses;
  int refused_count = 0;

 private:
  Handler handler_;
  std::string date_ = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
  H1Context ctx_;
  H1Connection conn_{&ctx_, "127.0.0.1"};
};

Handler Echo() {
  return [](Request& req, Response& res) {
    res.SetText(200, "text/plain",
                std::string(req.method_text) + " " + std::string(req.path) + " [" + req.body + "]");
  };
}

size_t Count(const std::string& s, std::string_view needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

TEST(H1Connection, AnswersWithFramingHeaders) {
  Loopback lb(Echo());
  std::string out = lb.Send("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Server: hearth\r\n"), std::string::npos);
  EXPECT_NE(out.find("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), std::string::npos);
  EXPECT_NE(out.find("Content-Length: 9\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\n\r\nGET /a []"), std::string::npos);
  EXPECT_FALSE(lb.conn().ShouldClose());
}

TEST(H1Connection, PipelinedRequestsAnsweredInOrder) {
  Loopback lb(Echo());
  std::string out = lb.Send(
      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
      "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n");
  size_t a = out.find("GET /1 []"), b = out.find("POST /2 [abc]"), c = out.find("GET /3 []");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(c, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(lb.statuses.size(), 3u);
}

TEST(H1Connection, ByteAtATimeGivesTheSameAnswer) {
  Loopback whole(Echo()), trickle(Echo());
  std::string req =
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n2;e=1\r\nde\r\n0\r\nT: v\r\n\r\n";
  std::string a = whole.Send(req);
  std::string b = trickle.Send(req, 1);
  EXPECT_EQ(a, b);
  EXPECT_NE(a.find("POST /x [abcde]"), std::string::npos);
}

TEST(H1Connection, ExpectContinueSendsInterimResponseBeforeBody) {
  Loopback lb(Echo());
  std::string first =
      lb.Send("PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(first, "HTTP/1.1 100 Continue\r\n\r\n");
  std::string rest = lb.Send("hello");
  EXPECT_NE(rest.find("PUT /u [hello]"), std::string::npos);
}

TEST(H1Connection, ErrorClosesAfterResponse) {
  Loopback lb(Echo());
  std::string out = lb.Send(
      "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u);
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(lb.conn().ShouldClose());
  EXPECT_EQ(lb.refused_count, 1);
  // Anything after is ignored: a smuggled request never reaches a handler.
  std::string more = lb.Send("GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(more, "");
}

TEST(H1Connection, Http10ClosesUnlessKeepAlive) {
  Loopback a(Echo());
  std::string out = a.Send("GET / HTTP/1.0\r\n\r\n");
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(a.conn().ShouldClose());
  Loopback b(Echo());
  out = b.Send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_NE(out.find("Connection: keep-alive"), std::string::npos);
  EXPECT_FALSE(b.conn().ShouldClose());
}

TEST(H1Connection, HeadHasLengthButNoBody) {
  Loopback lb(Echo());
  std::string out = lb.Send("HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(out.find("Content-Length: 10\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(H1Connection, StreamedBodyIsChunked) {
  Loopback lb([](Request&, Response& res) {
    auto n = std::make_shared<int>(0);
    res.body_kind = Response::BodyKind::kStream;
    res.stream = [n](std::string& out) {
      out = "part" + std::to_string(++*n);
      return *n < 3;
    };
  });
  std::string out = lb.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\n\r\n5\r\npart1\r\n5\r\npart2\r\n5\r\npart3\r\n0\r\n\r\n"),
            std::string::npos)
      << out;
  EXPECT_FALSE(lb.conn().ShouldClose());
}

TEST(H1Connection, StreamedBodyToHttp10EndsWithClose) {
  Loopback lb([](Request&, Response& res) {
    auto done = std::make_shared<bool>(false);
    res.body_kind = Response::BodyKind::kStream;
    res.stream = [done](std::string& out) {
      out = "all";
      return false;
    };
  });
  std::string out = lb.Send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 3), "all");
  EXPECT_TRUE(lb.conn().ShouldClose());
}

TEST(H1Connection, HandlerExceptionBecomes500) {
  Loopback lb([](Request&, Response&) { throw std::runtime_error("boom"); });
  std::string out = lb.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 500 ", 0), 0u);
}

TEST(H1Connection, BackpressureStopsParsingPipelinedRequests) {
  std::string big(300 * 1024, 'x');
  Loopback lb([&](Request&, Response& res) { res.SetText(200, "text/plain", big); });
  std::string two = "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
  size_t space;
  char* buf = lb.conn().ReadBuffer(&space);
  memcpy(buf, two.data(), two.size());
  lb.conn().OnRead(two.size());
  lb.conn().Advance();
  EXPECT_EQ(lb.statuses.size(), 1u);  // the second waits until the first is written
  lb.conn().out().DrainToString();
  lb.conn().Advance();
  EXPECT_EQ(lb.statuses.size(), 2u);
}

TEST(H1Connection, ShutdownClosesAfterInFlightRequest) {
  Loopback lb(Echo());
  lb.Send("GET /a HTTP/1.1\r\nHost: h\r\n");  // partial head
  lb.conn().BeginShutdown(true);
  EXPECT_FALSE(lb.conn().ShouldClose());
  std::string out = lb.Send("\r\n");
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(lb.conn().ShouldClose());
  EXPECT_EQ(Count(out, "HTTP/1.1 200"), 1u);
}

TEST(H1Connection, PeerEofAfterCompleteRequestsStillAnswers) {
  Loopback lb(Echo());
  size_t space;
  std::string req = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  char* buf = lb.conn().ReadBuffer(&space);
  memcpy(buf, req.data(), req.size());
  lb.conn().OnRead(req.size());
  lb.conn().OnPeerEof();
  lb.conn().Advance();
  EXPECT_NE(lb.conn().out().DrainToString().find("GET /a []"), std::string::npos);
  EXPECT_TRUE(lb.conn().ShouldClose());
}

TEST(H1Connection, DeferredResponseWaitsThenGoesOnWithPipelinedRequests) {
  Loopback lb([](Request& req, Response& res) {
    if (req.path == "/slow") {
      auto reply = res.Defer();
      ASSERT_TRUE(reply);
      reply->Finish([](Response& r) { r.SetText(201, "text/plain", "done later"); });
      return;
    }
    res.SetText(200, "text/plain", "fast");
  });
  std::string out = lb.Send(
      "POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
      "GET /fast HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out, "");  // nothing may overtake the deferred response
  EXPECT_TRUE(lb.conn().Waiting());
  ASSERT_EQ(lb.replies.size(), 1u);
  std::string rest = lb.ResumeLatest();
  size_t slow = rest.find("done later"), fast = rest.find("fast");
  ASSERT_NE(slow, std::string::npos) << rest;
  ASSERT_NE(fast, std::string::npos) << rest;
  EXPECT_LT(slow, fast);
  EXPECT_EQ(rest.rfind("HTTP/1.1 201 Created\r\n", 0), 0u);
  EXPECT_EQ(lb.statuses, (std::vector<int>{201, 200}));
}

TEST(H1Connection, DeferredResponseDuringShutdownClosesAfterwards) {
  Loopback lb([](Request&, Response& res) { res.Defer(); });
  lb.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  lb.conn().BeginShutdown(true);
  EXPECT_FALSE(lb.conn().ShouldClose());
  lb.replies.back()->fill = [](Response& r) { r.status = 204; };
  std::string out = lb.ResumeLatest();
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(lb.conn().ShouldClose());
}

// A body sink that records what it gets; `budget` bytes per offer model a
// slow consumer (0: take everything).
struct RecordingSink : BodySink {
  size_t OnData(std::string_view bytes) override {
    size_t n = budget ? std::min(budget, bytes.size()) : bytes.size();
    data.append(bytes.substr(0, n));
    ++offers;
    return n;
  }
  void OnEnd(bool ok) override {
    ++ends;
    ended_ok = ok;
  }
  std::string data;
  size_t budget = 0;
  int offers = 0, ends = 0;
  bool ended_ok = false;
};

// A streaming route: takes the body into `sink` and answers once it ends.
struct StreamingRoute {
  std::shared_ptr<RecordingSink> sink = std::make_shared<RecordingSink>();
  bool accept = true;
  int dispatches = 0;
  Handler handler() {
    return [this](Request& req, Response& res) {
      ++dispatches;
      if (!req.body_pending) return res.SetText(200, "text/plain", "no body");
      if (!accept) return res.SetError(401, "no token");
      req.body_sink = sink;
      res.Defer();
    };
  }
};

bool StreamUploads(const Request& req) {
  return req.path.rfind("/up", 0) == 0;
}

TEST(H1ConnectionBodySink, ContentLengthBodyStreamsThenDeferredAnswerGoesOut) {
  StreamingRoute route;
  Loopback lb(route.handler(), StreamUploads);
  std::string body(200000, 'x');
  std::string out = lb.Send("PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n" + body +
                                "GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
                            7000);
  EXPECT_EQ(out, "");  // nothing until the handler answers
  EXPECT_EQ(route.dispatches, 1);
  EXPECT_EQ(route.sink->data, body);
  EXPECT_GT(route.sink->offers, 10);  // in pieces, as it arrived
  EXPECT_EQ(route.sink->ends, 1);
  EXPECT_TRUE(route.sink->ended_ok);
  EXPECT_TRUE(lb.conn().Waiting());
  lb.replies.back()->Finish([](Response& r) { r.SetText(201, "text/plain", "stored"); });
  out = lb.ResumeLatest();
  EXPECT_EQ(out.rfind("HTTP/1.1 201 Created\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("HTTP/1.1 200 OK"), std::string::npos)
      << "the pipelined request after the body";
  EXPECT_FALSE(lb.conn().ShouldClose());
}

TEST(H1ConnectionBodySink, ChunkedBodyIsDecodedIntoTheSink) {
  StreamingRoute route;
  Loopback lb(route.handler(), StreamUploads);
  lb.Send(
      "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
      "world\r\n0\r\n\r\n",
      3);
  EXPECT_EQ(route.sink->data, "hello world");
  EXPECT_EQ(route.sink->ends, 1);
  EXPECT_TRUE(route.sink->ended_ok);
}

TEST(H1ConnectionBodySink, ASlowSinkPausesTheBodyUntilUnpaused) {
  StreamingRoute route;
  route.sink->budget = 4;
  Loopback lb(route.handler(), StreamUploads);
  lb.Send("PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789");
  EXPECT_TRUE(lb.conn().BodyPaused());
  EXPECT_EQ(route.sink->data, "0123");
  lb.conn().Advance();  // still paused: offers nothing
  EXPECT_EQ(route.sink->data, "0123");
  lb.conn().Unpause();
  lb.conn().Advance();
  EXPECT_EQ(route.sink->data, "01234567");
  lb.conn().Unpause();
  lb.conn().Advance();
  EXPECT_EQ(route.sink->data, "0123456789");
  EXPECT_EQ(route.sink->ends, 1);
  EXPECT_FALSE(lb.conn().BodyPaused());
}

TEST(H1ConnectionBodySink, AnswerAtTheHeadClosesWithoutReadingTheBody) {
  StreamingRoute route;
  route.accept = false;
  Loopback lb(route.handler(), StreamUploads);
  std::string out = lb.Send(
      "PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 30\r\n\r\n"
      "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.find("100 Continue"), std::string::npos) << out;
  EXPECT_EQ(out.rfind("HTTP/1.1 401 Unauthorized\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(Count(out, "HTTP/1.1"), 1u) << "the unread body is never parsed as a request";
  EXPECT_TRUE(lb.conn().ShouldClose());
  EXPECT_EQ(route.sink->ends, 0);
}

TEST(H1ConnectionBodySink, ExpectContinueOnlyOnceTheHandlerTakesTheBody) {
  StreamingRoute route;
  Loopback lb(route.handler(), StreamUploads);
  std::string out =
      lb.Send("PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(out, "HTTP/1.1 100 Continue\r\n\r\n");
  lb.Send("abc");
  EXPECT_EQ(route.sink->data, "abc");
}

TEST(H1ConnectionBodySink, PeerGoneMidBodyEndsTheSinkNotOk) {
  StreamingRoute route;
  Loopback lb(route.handler(), StreamUploads);
  lb.Send("PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc");
  lb.conn().OnPeerEof();
  lb.conn().Advance();
  EXPECT_EQ(route.sink->ends, 1);
  EXPECT_FALSE(route.sink->ended_ok);
  EXPECT_TRUE(lb.conn().ShouldClose());
}

TEST(H1ConnectionBodySink, BadChunkFramingAnswers400AndEndsTheSink) {
  StreamingRoute route;
  Loopback lb(route.handler(), StreamUploads);
  std::string out =
      lb.Send("PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX");
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << out;
  EXPECT_EQ(route.sink->ends, 1);
  EXPECT_FALSE(route.sink->ended_ok);
  // The handler's late answer goes nowhere.
  lb.replies.back()->Finish([](Response& r) { r.SetText(201, "text/plain", "late"); });
  EXPECT_EQ(lb.ResumeLatest().find("late"), std::string::npos);
}

TEST(H1ConnectionBodySink, ChunkedBodyOverTheLimitIs413) {
  StreamingRoute route;
  Loopback lb(route.handler(), StreamUploads);
  // 64 MiB default limit: two 48 MiB chunks pass it.
  std::string out =
      lb.Send("PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3000000\r\n" +
              std::string(1000, 'a'));
  EXPECT_EQ(out, "");
  out = lb.Send(std::string(0x3000000 - 1000, 'a') + "\r\n3000000\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out.substr(0, 100);
  EXPECT_EQ(route.sink->ends, 1);
  EXPECT_FALSE(route.sink->ended_ok);
}

TEST(H1ConnectionBodySink, AnswerBeforeTheBodyEndsClosesTheConnection) {
  StreamingRoute route;
  Loopback lb(route.handler(), StreamUploads);
  lb.Send("PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc");
  lb.replies.back()->Finish([](Response& r) { r.SetError(507, "disk full"); });
  std::string out = lb.ResumeLatest();
  EXPECT_EQ(out.rfind("HTTP/1.1 507", 0), 0u) << out;
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(route.sink->ends, 1);
  EXPECT_FALSE(route.sink->ended_ok);
  EXPECT_TRUE(lb.conn().ShouldClose());
}

TEST(H1ConnectionBodySink, ConnectionGoneMidBodyEndsTheSink) {
  StreamingRoute route;
  {
    Loopback lb(route.handler(), StreamUploads);
    lb.Send("PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc");
  }
  EXPECT_EQ(route.sink->ends, 1);
  EXPECT_FALSE(route.sink->ended_ok);
}

TEST(H1ConnectionBodySink, OtherRoutesStillGetTheWholeBody) {
  StreamingRoute route;
  Loopback lb(Echo(), StreamUploads);
  std::string out = lb.Send("POST /other HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", 2);
  EXPECT_NE(out.find("POST /other [hello]"), std::string::npos) << out;
}

TEST(H1ConnectionBodySink, StreamingRouteWithoutABodyIsAnOrdinaryRequest) {
  StreamingRoute route;
  Loopback lb(route.handler(), StreamUploads);
  std::string out = lb.Send("GET /up HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(out.find("no body"), std::string::npos) << out;
  EXPECT_FALSE(lb.conn().ShouldClose());
}

// A sized stream: pieces of `piece` bytes until `total` are produced.
Handler SizedStream(uint64_t promised, uint64_t total, size_t piece) {
  return [=](Request&, Response& res) {
    auto made = std::make_shared<uint64_t>(0);
    res.SetStream(
        [=](std::string& out) {
          size_t n = static_cast<size_t>(std::min<uint64_t>(piece, total - *made));
          out.append(n, 's');
          *made += n;
          return *made < total;
        },
        promised);
  };
}

TEST(H1ConnectionSizedStream, SendsContentLengthAndExactlyThoseBytes) {
  Loopback lb(SizedStream(1000, 1000, 300));
  std::string out = lb.Send("GET /s HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(out.find("Content-Length: 1000\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos);
  EXPECT_EQ(out.substr(out.find("\r\n\r\n") + 4), std::string(1000, 's'));
  EXPECT_FALSE(lb.conn().ShouldClose());
  out = lb.Send("GET /again HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
}

TEST(H1ConnectionSizedStream, AStreamThatEndsShortClosesTheConnection) {
  Loopback lb(SizedStream(1000, 600, 300));
  std::string out =
      lb.Send("GET /s HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.substr(out.find("\r\n\r\n") + 4), std::string(600, 's'));
  EXPECT_TRUE(lb.conn().ShouldClose()) << "the client must see a short body, not a next response";
}

TEST(H1ConnectionSizedStream, AStreamThatRunsLongIsCutAtItsLength) {
  Loopback lb(SizedStream(500, 2000, 300));
  std::string out = lb.Send("GET /s HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.substr(out.find("\r\n\r\n") + 4), std::string(500, 's'));
  EXPECT_FALSE(lb.conn().ShouldClose());
}

TEST(H1ConnectionSizedStream, HeadSendsTheLengthOnly) {
  Loopback lb(SizedStream(1000, 1000, 300));
  std::string out = lb.Send("HEAD /s HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(out.find("Content-Length: 1000\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.find("\r\n\r\n") + 4), "");
  EXPECT_FALSE(lb.conn().ShouldClose());
}

TEST(H1ConnectionSizedStream, AnEndlessStreamEndsAtAGracefulStop) {
  Loopback lb([](Request&, Response& res) {
    res.status = 200;
    res.body_kind = Response::BodyKind::kStream;
    res.stream_endless = true;
    auto sent = std::make_shared<bool>(false);
    res.stream = [sent](std::string& out) {
      if (!*sent) out = "event:hello\n\n";
      *sent = true;
      return true;  // never ends by itself
    };
  });
  std::string out = lb.Send("GET /events HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(out.find("event:hello"), std::string::npos);
  EXPECT_TRUE(lb.conn().Streaming());
  lb.conn().BeginShutdown(true);
  EXPECT_TRUE(lb.conn().ShouldClose());
  EXPECT_EQ(lb.conn().out().DrainToString(), "0\r\n\r\n");
}

}  // namespace
}  // namespace hearth

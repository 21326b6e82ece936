// The reverse proxy's pure parts: upstream response heads, the settings a
// site stores, and how an upstream is picked. The forwarding itself (sockets,
// retries, streaming, WebSocket) is driven end to end in tests/e2e/proxy.test.mjs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "http/h1_parser.h"
#include "proxy/upstream.h"

namespace hearth {
namespace {

HeadResult Parse(std::string_view text, ResponseHead* head) {
  H1Limits limits;
  return ParseResponseHead(text, limits, head);
}

TEST(ResponseHead, LengthChunkedAndUntilClose) {
  ResponseHead h;
  std::string sized = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
  HeadResult r = Parse(sized, &h);
  ASSERT_EQ(r.state, ParseState::kDone);
  EXPECT_EQ(r.consumed, sized.size() - 5);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.framing, BodyFraming::kLength);
  EXPECT_EQ(h.content_length, 5u);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(h.headers.size(), 2u);
  EXPECT_EQ(h.headers[1].value, "b");

  ASSERT_EQ(Parse("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n", &h).state,
            ParseState::kDone);
  EXPECT_EQ(h.framing, BodyFraming::kChunked);
  EXPECT_TRUE(h.keep_alive);

  // No length: the body runs to the end of the connection.
  ASSERT_EQ(Parse("HTTP/1.1 200 OK\r\n\r\n", &h).state, ParseState::kDone);
  EXPECT_TRUE(h.until_close);
  EXPECT_FALSE(h.keep_alive);

  // No reason phrase is fine; a lone LF ends lines too.
  ASSERT_EQ(Parse("HTTP/1.1 204\nServer: x\n\n", &h).state, ParseState::kDone);
  EXPECT_EQ(h.status, 204);
}

TEST(ResponseHead, ConnectionReuseRules) {
  ResponseHead h;
  ASSERT_EQ(Parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", &h).state,
            ParseState::kDone);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(Parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", &h).state, ParseState::kDone);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(
      Parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", &h).state,
      ParseState::kDone);
  EXPECT_TRUE(h.keep_alive);
  // Both framings: chunked wins and the connection is not trusted again.
  ASSERT_EQ(
      Parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", &h).state,
      ParseState::kDone);
  EXPECT_EQ(h.framing, BodyFraming::kChunked);
  EXPECT_FALSE(h.keep_alive);
}

TEST(ResponseHead, RefusesWhatIsAmbiguousOrBroken) {
  ResponseHead h;
  const char* bad[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: br\r\n\r\n",
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 700 OK\r\n\r\n",
      "HTTP/1.1 200OK\r\n\r\n",
      "ICY 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\n folded: no\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
  };
  for (const char* text : bad) {
    HeadResult r = Parse(text, &h);
    EXPECT_EQ(r.state, ParseState::kError) << text;
    EXPECT_EQ(r.status, 502) << text;
  }
}

TEST(ResponseHead, IncompleteUntilTheBlankLineAndBounded) {
  ResponseHead h;
  EXPECT_EQ(Parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", &h).state, ParseState::kIncomplete);
  H1Limits small;
  small.max_header_bytes = 64;
  std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a');
  EXPECT_EQ(ParseResponseHead(big, small, &h).state, ParseState::kError);
}

using proxy::ParseProxyConfig;
using proxy::Policy;
using proxy::ProxyConfig;
using proxy::UpstreamSet;
using json = nlohmann::json;

TEST(ProxyConfig, DefaultsAndRoundTrip) {
  auto c = ParseProxyConfig(json{{"upstreams", {"http://127.0.0.1:3000"}}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->policy, Policy::kRoundRobin);
  EXPECT_EQ(c->path, "/");
  EXPECT_TRUE(c->health_path.empty());
  auto again = ParseProxyConfig(proxy::ProxyConfigToJson(*c));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(proxy::ProxyConfigToJson(*again), proxy::ProxyConfigToJson(*c));
}

TEST(ProxyConfig, ErrorsNameWhatIsWrong) {
  struct Case {
    json j;
    const char* says;
  } cases[] = {
      {json::array(), "must be an object"},
      {json::object(), "at least one"},
      {{{"upstreams", json::array()}}, "upstreams"},
      {{{"upstreams", {"https://a:1"}}}, "only http://"},
      {{{"upstreams", {"http://a:1/path"}}}, "no path"},
      {{{"upstreams", {"http://:80"}}}, "invalid host"},
      {{{"upstreams", {"http://a:0"}}}, "invalid port"},
      {{{"upstreams", {"http://a:1"}}, {"policy", "fastest"}}, "policy must be"},
      {{{"upstreams", {"http://a:1"}}, {"path", "app"}}, "path must be"},
      {{{"upstreams", {"http://a:1"}}, {"health_path", "/x y"}}, "health_path"},
      {{{"upstreams", {"http://a:1"}}, {"connect_timeout_ms", 1}},
       "connect_timeout_ms must be between"},
      {{{"upstreams", {"http://a:1"}}, {"max_fails", "3"}}, "max_fails must be a whole number"},
      {{{"upstreams", {"http://a:1"}}, {"retry", true}}, "unknown proxy setting \"retry\""},
  };
  for (const auto& c : cases) {
    auto r = ParseProxyConfig(c.j);
    ASSERT_FALSE(r.ok()) << c.j.dump();
    EXPECT_NE(r.error().message.find(c.says), std::string::npos)
        << c.j.dump() << ": " << r.error().message;
  }
}

TEST(ProxyConfig, UpstreamUrls) {
  auto a = proxy::ParseUpstreamUrl("http://127.0.0.1:3000");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 3000);
  auto b = proxy::ParseUpstreamUrl("http://[::1]:8080/");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "::1");
  EXPECT_EQ(b->second, 8080);
  auto c = proxy::ParseUpstreamUrl("localhost");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->second, 80);
}

ProxyConfig Config(Policy p, int n) {
  ProxyConfig c;
  c.policy = p;
  for (int i = 0; i < n; ++i) c.upstreams.push_back("http://127.0.0.1:" + std::to_string(4000 + i));
  return c;
}

TEST(UpstreamSet, RoundRobinSkipsWhatIsDownOrTried) {
  UpstreamSet set(Config(Policy::kRoundRobin, 3));
  std::vector<int> seen;
  for (int i = 0; i < 6; ++i) seen.push_back(set.Pick("1.2.3.4", 0, 0));
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 0, 1, 2}));
  set.at(1).healthy.store(false);
  for (int i = 0; i < 6; ++i) EXPECT_NE(set.Pick("1.2.3.4", 0, 0), 1);
  EXPECT_EQ(set.Pick("1.2.3.4", 1u << 0 | 1u << 2, 0), -1);  // the rest are tried or down
}

TEST(UpstreamSet, PassiveEjectionAndReturn) {
  ProxyConfig c = Config(Policy::kRoundRobin, 2);
  c.max_fails = 2;
  c.fail_timeout_ms = 1000;
  UpstreamSet set(c);
  set.Failed(set.at(0), 100);
  EXPECT_TRUE(set.at(0).Available(100));  // one failure is not enough
  set.Succeeded(set.at(0));
  set.Failed(set.at(0), 100);
  EXPECT_TRUE(set.at(0).Available(100));  // a success in between reset the count
  set.Failed(set.at(0), 100);
  EXPECT_FALSE(set.at(0).Available(100));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(set.Pick("ip", 0, 500), 1);
  EXPECT_TRUE(set.at(0).Available(1100));  // back after fail_timeout
}

TEST(UpstreamSet, IpHashIsStickyAndFailsOver) {
  UpstreamSet set(Config(Policy::kIpHash, 4));
  int first = set.Pick("203.0.113.9", 0, 0);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(set.Pick("203.0.113.9", 0, 0), first);
  std::set<int> spread;
  for (int i = 0; i < 64; ++i) spread.insert(set.Pick("10.0.0." + std::to_string(i), 0, 0));
  EXPECT_GE(spread.size(), 3u);  // clients spread over the upstreams
  set.at(static_cast<size_t>(first)).healthy.store(false);
  int other = set.Pick("203.0.113.9", 0, 0);
  EXPECT_NE(other, first);
  set.at(static_cast<size_t>(first)).healthy.store(true);
  EXPECT_EQ(set.Pick("203.0.113.9", 0, 0), first);  // and it comes back home
}

TEST(UpstreamSet, LeastConnAndRandomTwoFavorTheIdle) {
  UpstreamSet lc(Config(Policy::kLeastConn, 3));
  lc.at(0).active = 5;
  lc.at(1).active = 1;
  lc.at(2).active = 3;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(lc.Pick("ip", 0, 0), 1);
  UpstreamSet p2c(Config(Policy::kRandomTwo, 2));
  p2c.at(0).active = 10;
  int zero = 0;
  for (int i = 0; i < 200; ++i) zero += p2c.Pick("ip", 0, 0) == 0;
  EXPECT_EQ(zero, 0);  // with two upstreams both are always compared
  UpstreamSet three(Config(Policy::kRandomTwo, 3));
  std::set<int> used;
  for (int i = 0; i < 200; ++i) used.insert(three.Pick("ip", 0, 0));
  EXPECT_EQ(used.size(), 3u);
}

}  // namespace
}  // namespace hearth

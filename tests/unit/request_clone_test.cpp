// The admission queue's copy of a request: every field equal to the
// original's, and none of its views pointing into the original's buffers.
#include "http/request_clone.h"

#include <gtest/gtest.h>

namespace hearth {
namespace {

bool Inside(std::string_view view, const std::string& buffer) {
  return !view.empty() && view.data() >= buffer.data() &&
         view.data() < buffer.data() + buffer.size();
}

// A Request's size changes when a field is added: then CloneRequest and the
// comparisons below must learn it. (x86-64 with libstdc++, where CI runs.)
static_assert(sizeof(void*) != 8 || sizeof(Request) == 320,
              "Request gained or lost a field: copy it in CloneRequest and compare it here");

TEST(RequestClone, EqualsTheOriginalInEveryField) {
  std::string wire = "POST /a/../b?x=1 HTTP/1.1 example.com:8080 Content-Type text/plain 10.0.0.1";
  Request r;
  r.method = Method::kPost;
  r.method_text = std::string_view(wire).substr(0, 4);
  r.target = std::string_view(wire).substr(5, 11);
  r.path = std::string_view(wire).substr(5, 7);
  ASSERT_TRUE(r.NormalizePath());  // "/a/../b" -> "/b", in path_buf_
  r.query = std::string_view(wire).substr(13, 3);
  r.authority = std::string_view(wire).substr(26, 16);
  r.version_minor = 0;
  r.keep_alive = false;
  r.expect_continue = true;
  r.framing = BodyFraming::kLength;
  r.content_length = 5;
  r.headers.push_back(
      {std::string_view(wire).substr(43, 12), std::string_view(wire).substr(56, 10)});
  r.body = "hello";
  r.body_pending = true;
  r.body_sink = nullptr;
  r.peer_ip = std::string_view(wire).substr(67, 8);
  r.client_ip = "192.0.2.7";
  r.tls = true;
  r.start_micros = 12345;
  r.host_lower_ = "example.com";

  auto c = CloneRequest(r, /*take_body=*/false);
  const Request& k = c->request;
  EXPECT_EQ(k.method, r.method);
  EXPECT_EQ(k.method_text, r.method_text);
  EXPECT_EQ(k.target, r.target);
  EXPECT_EQ(k.path, "/b");
  EXPECT_EQ(k.path, r.path);
  EXPECT_EQ(k.query, r.query);
  EXPECT_EQ(k.authority, r.authority);
  EXPECT_EQ(k.version_minor, r.version_minor);
  EXPECT_EQ(k.keep_alive, r.keep_alive);
  EXPECT_EQ(k.expect_continue, r.expect_continue);
  EXPECT_EQ(k.framing, r.framing);
  EXPECT_EQ(k.content_length, r.content_length);
  ASSERT_EQ(k.headers.size(), 1u);
  EXPECT_EQ(k.headers[0].name, "Content-Type");
  EXPECT_EQ(k.headers[0].value, "text/plain");
  EXPECT_EQ(k.Header("content-type"), "text/plain");
  EXPECT_EQ(k.body, "hello");
  EXPECT_EQ(k.body_pending, r.body_pending);
  EXPECT_EQ(k.body_sink, r.body_sink);
  EXPECT_EQ(k.peer_ip, r.peer_ip);
  EXPECT_EQ(k.client_ip, r.client_ip);
  EXPECT_EQ(k.ClientIp(), "192.0.2.7");
  EXPECT_EQ(k.tls, r.tls);
  EXPECT_EQ(k.start_micros, r.start_micros);
  EXPECT_EQ(k.HostName(), "example.com");

  // Nothing points into the original's bytes: they may be reused at once.
  for (std::string_view v : {k.method_text, k.target, k.path, k.query, k.authority, k.peer_ip,
                             k.headers[0].name, k.headers[0].value}) {
    EXPECT_FALSE(Inside(v, wire)) << v;
    EXPECT_FALSE(Inside(v, r.path_buf_)) << v;
  }
  std::fill(wire.begin(), wire.end(), '#');
  r.Reset();
  EXPECT_EQ(k.path, "/b");
  EXPECT_EQ(k.headers[0].value, "text/plain");
  EXPECT_EQ(k.peer_ip, "10.0.0.1");

  // Taking the body moves it.
  Request big;
  big.body = std::string(1 << 16, 'x');
  auto moved = CloneRequest(big, /*take_body=*/true);
  EXPECT_EQ(moved->request.body.size(), 1u << 16);
  EXPECT_TRUE(big.body.empty());
}

}  // namespace
}  // namespace hearth

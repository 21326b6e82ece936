#include "http/router.h"

#include <gtest/gtest.h>

namespace hearth {
namespace {

Handler Tag(std::string tag) {
  return [tag](Request&, Response& res) { res.SetText(200, "text/plain", tag); };
}

std::string Route(const Router& r, std::string host, std::string path) {
  const Handler* h = r.Match(host, path);
  if (!h) return "none";
  Request req;
  Response res;
  (*h)(req, res);
  return res.text;
}

TEST(Router, MostSpecificHostWins) {
  Router r;
  r.Add("", "/", Tag("any"));
  r.Add("*.example.com", "/", Tag("wild"));
  r.Add("www.example.com", "/", Tag("exact"));
  EXPECT_EQ(Route(r, "www.example.com", "/"), "exact");
  EXPECT_EQ(Route(r, "blog.example.com", "/x"), "wild");
  EXPECT_EQ(Route(r, "example.com", "/"), "any");  // a wildcard does not cover the apex
  EXPECT_EQ(Route(r, "other.org", "/"), "any");
}

TEST(Router, HostPatternsAreCaseInsensitive) {
  Router r;
  r.Add("WWW.Example.COM", "/", Tag("exact"));
  EXPECT_EQ(Route(r, "www.example.com", "/"), "exact");
}

TEST(Router, LongestPrefixAtSegmentBoundary) {
  Router r;
  r.Add("", "/", Tag("root"));
  r.Add("", "/app", Tag("app"));
  r.Add("", "/app/api/", Tag("api"));
  EXPECT_EQ(Route(r, "h", "/app"), "app");
  EXPECT_EQ(Route(r, "h", "/app/x"), "app");
  EXPECT_EQ(Route(r, "h", "/apple"), "root");
  EXPECT_EQ(Route(r, "h", "/app/api/v1"), "api");
  EXPECT_EQ(Route(r, "h", "/app/api"), "app");
}

TEST(Router, NoMatchAnswers404) {
  Router r;
  r.Add("only.example", "/", Tag("x"));
  Request req;
  req.path = "/";
  req.host_lower_ = "elsewhere";
  Response res;
  r.Serve(req, res);
  EXPECT_EQ(res.status, 404);
}

TEST(Router, ComposeRunsMiddlewareOutermostFirst) {
  std::string trace;
  Middleware a = [&](Request& q, Response& s, const Handler& next) {
    trace += "a";
    next(q, s);
    trace += "A";
  };
  Middleware b = [&](Request& q, Response& s, const Handler& next) {
    trace += "b";
    next(q, s);
    trace += "B";
  };
  Handler h = Compose({a, b}, [&](Request&, Response&) { trace += "h"; });
  Request req;
  Response res;
  h(req, res);
  EXPECT_EQ(trace, "abhBA");
}

TEST(Router, MiddlewareCanAnswerWithoutCallingNext) {
  bool reached = false;
  Middleware deny = [](Request&, Response& s, const Handler&) { s.SetError(403); };
  Handler h = Compose({deny}, [&](Request&, Response&) { reached = true; });
  Request req;
  Response res;
  h(req, res);
  EXPECT_FALSE(reached);
  EXPECT_EQ(res.status, 403);
}

}  // namespace
}  // namespace hearth

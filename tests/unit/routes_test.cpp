// The control API's route table: every row declares a class, the table
// refuses one that does not, the token scope rule takes every row's declared
// auth, and whether a body streams is decided per request by its row.
#include "api/routes.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "api/token_scope.h"
#include "http/h1_connection.h"
#include "server/api_routes.h"
#include "server/site_mounts.h"

namespace hearth {
namespace {

using api::BodyMode;
using api::RouteClass;
using api::RouteSpec;
using api::RouteTable;
using K = api::ApiTarget::Kind;

void Nothing(api::ApiCall&) {}

// The table the server serves, built as Server::Start builds it (the parts'
// contexts are not started: registration only keeps pointers).
struct ServerTable {
  sites::SitesShared sites;
  control::ControlShared control;
  RouteTable table;
  ServerTable() { EXPECT_TRUE(AddApiRoutes(&table, &sites, nullptr, &control).ok()); }
};

// A path a row's pattern matches: "*" filled with what its segment names.
std::string SamplePath(const std::string& pattern) {
  std::string path = "/_hearth/api";
  size_t start = 0;
  std::string first;
  while (start <= pattern.size()) {
    size_t slash = pattern.find('/', start);
    std::string seg =
        pattern.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (first.empty()) first = seg;
    if (seg == "*")
      seg = first == "deploys" || first == "certs" ? "7"
            : first == "blobs"                     ? std::string(64, 'a')
            : first == "admins"                    ? "ann@example.com"
            : first == "tokens"                    ? "abc"
                                                   : "blog.localhost";
    if (path.find("/collections") != std::string::npos && seg != "collections") seg = "posts";
    path += "/" + seg;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return path;
}

TEST(Routes, EveryRouteHasAClassABodyModeAndItsAuthAsTheScopeRuleSeesIt) {
  ServerTable t;
  ASSERT_GT(t.table.routes().size(), 20u);
  std::set<std::string> patterns;
  for (const RouteSpec& r : t.table.routes()) {
    std::string name = SamplePath(r.pattern);
    EXPECT_EQ(api::RouteProblem(r), "") << name;
    EXPECT_NE(std::string(api::RouteClassName(r.route_class)), "") << name << " has no class";
    // The row serves its own sample (HEAD by the GET row), the token rule
    // takes it for the row's auth, and its body goes where its mode says.
    EXPECT_EQ(t.table.Match(r.method, name), &r) << name;
    if (r.method == Method::kGet) {
      EXPECT_EQ(t.table.Match(Method::kHead, name), &r) << name;
    }
    EXPECT_EQ(t.table.Target(r.method, name).kind, r.auth) << name;
    Request req;
    req.method = r.method;
    req.path = name;
    BodyRoute want = r.body == BodyMode::kBuffered   ? BodyRoute::kBuffer
                     : r.body == BodyMode::kStreamed ? BodyRoute::kStream
                                                     : BodyRoute::kStreamAnySize;
    EXPECT_EQ(ApiBodyRoute(t.table, req), want) << name;
    patterns.insert(r.pattern);
  }
  // Each part's routes are in the one table.
  for (const char* p : {"sites", "sites/*/deploys", "blobs/*", "sites/*/collections/*", "tokens",
                        "admins/*", "certs/local-ca"})
    EXPECT_TRUE(patterns.count(p)) << p;
  // Blob uploads stream, bounded by --max-body-size (docs/sites.md: 413 past it).
  std::string blob_path = SamplePath("blobs/*");
  Request blob;
  blob.method = Method::kPut;
  blob.path = blob_path;
  EXPECT_EQ(ApiBodyRoute(t.table, blob), BodyRoute::kStream);
}

// The check the test above relies on: a row whose class was left out (or
// set to no class) is refused at registration, and RouteProblem names it.
TEST(Routes, AClasslessRouteIsRefused) {
  RouteTable table;
  RouteSpec planted{Method::kGet, "planted", K::kRead, BodyMode::kBuffered, RouteClass{}, Nothing};
  EXPECT_NE(api::RouteProblem(planted).find("no class"), std::string::npos);
  Status st = table.Add(planted);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("GET planted"), std::string::npos) << st.error().message;
  RouteSpec omitted{};  // every field left out
  omitted.pattern = "omitted";
  omitted.handler = Nothing;
  omitted.body = BodyMode::kBuffered;
  EXPECT_FALSE(table.Add(omitted).ok());
  EXPECT_TRUE(table.routes().empty());
  // The same row with a class goes in; twice does not.
  planted.route_class = RouteClass::kRead;
  EXPECT_TRUE(table.Add(planted).ok());
  EXPECT_FALSE(table.Add(planted).ok());
  RouteSpec no_body{Method::kGet, "b", K::kRead, BodyMode{}, RouteClass::kRead, Nothing};
  EXPECT_FALSE(table.Add(no_body).ok());
  RouteSpec empty_segment{Method::kGet,      "a//b", K::kRead, BodyMode::kBuffered,
                          RouteClass::kRead, Nothing};
  EXPECT_FALSE(table.Add(empty_segment).ok());
}

// A row cannot fail open: one whose auth was left out is not a read, a read
// auth is GET's alone, and a keyed auth needs the "*" its key comes from.
TEST(Routes, ARowWithNoAuthAReadWriteOrAnUnkeyedKeyIsRefused) {
  struct Case {
    RouteSpec spec;
    const char* problem;
  };
  const Case cases[] = {
      {{Method::kGet, "noauth", K{}, BodyMode::kBuffered, RouteClass::kRead, Nothing}, "no auth"},
      {{Method::kPost, "things", K::kRead, BodyMode::kBuffered, RouteClass::kWrite, Nothing},
       "read auth on a method other than GET"},
      {{Method::kHead, "things", K::kRead, BodyMode::kBuffered, RouteClass::kRead, Nothing},
       "read auth on a method other than GET"},
      {{Method::kDelete, "sites/*/versions", K::kSiteVersions, BodyMode::kBuffered,
        RouteClass::kWrite, Nothing},
       "read auth on a method other than GET"},
      {{Method::kPost, "deploys/publish", K::kPublish, BodyMode::kBuffered, RouteClass::kWrite,
        Nothing},
       "keyed auth without"},
      {{Method::kPut, "blobs", K::kBlob, BodyMode::kStreamed, RouteClass::kWrite, Nothing},
       "keyed auth without"},
      {{Method::kPost, "sites/deploys", K::kSiteDeploy, BodyMode::kBuffered, RouteClass::kWrite,
        Nothing},
       "keyed auth without"},
      {{Method::kGet, "sites/versions", K::kSiteVersions, BodyMode::kBuffered, RouteClass::kRead,
        Nothing},
       "keyed auth without"},
  };
  for (const Case& c : cases) {
    RouteTable table;
    Status st = table.Add(c.spec);
    ASSERT_FALSE(st.ok()) << c.spec.pattern;
    EXPECT_NE(st.error().message.find(c.problem), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find(c.spec.pattern), std::string::npos) << st.error().message;
  }
  RouteSpec omitted{};  // auth left out, everything else given
  omitted.method = Method::kGet;
  omitted.pattern = "omitted";
  omitted.body = BodyMode::kBuffered;
  omitted.route_class = RouteClass::kRead;
  omitted.handler = Nothing;
  EXPECT_NE(api::RouteProblem(omitted).find("no auth"), std::string::npos);
  omitted.auth = K::kRead;
  EXPECT_EQ(api::RouteProblem(omitted), "");
}

// HEAD is served by the GET row, and its handler is told GET (so a handler
// that branches on the method answers a HEAD as it answers the GET, not 405),
// for every GET row of the server's table.
TEST(Routes, EveryGetRowsHandlerSeesGetForAHead) {
  ServerTable t;
  RouteTable recorded;
  const RouteSpec* called = nullptr;
  Method seen = Method::kOptions;
  int gets = 0;
  for (const RouteSpec& r : t.table.routes()) {
    RouteSpec copy = r;
    copy.handler = [&called, &seen, row = &r](api::ApiCall& c) {
      called = row;
      seen = c.method;
    };
    ASSERT_TRUE(recorded.Add(copy).ok());
  }
  for (const RouteSpec& r : t.table.routes()) {
    if (r.method != Method::kGet) continue;
    ++gets;
    std::string path = SamplePath(r.pattern);  // req.path views it
    Request req;
    req.method = Method::kHead;
    req.path = path;
    Response res;
    called = nullptr;
    seen = Method::kOptions;
    recorded.Dispatch(req, res, 0);
    EXPECT_EQ(called, &r) << "HEAD " << req.path << " answered " << res.status;
    EXPECT_EQ(seen, Method::kGet) << "HEAD " << req.path;
    EXPECT_EQ(req.method, Method::kHead) << "the connection drops a HEAD's body by req.method";
  }
  EXPECT_GT(gets, 5);
}

// Every site mount says the class of the requests it takes; a mount
// without one is refused (the server does not start).
TEST(Routes, EverySiteMountHasAClass) {
  proxy::Registry proxies(nullptr);  // no health checks: nothing is proxied here
  data::Apps apps("/nonexistent/apps", 1);
  auto options = std::make_shared<data::DataOptions>();
  auto mounts = SiteMounts(&proxies, nullptr, &apps, options, 0);
  std::set<std::string> names;
  for (const auto& m : mounts) {
    EXPECT_EQ(sites::MountProblem(m), "") << m.name;
    names.insert(m.name);
  }
  EXPECT_EQ(names, (std::set<std::string>{"proxy", "data"}));
  Request get, post, realtime;
  post.method = Method::kPost;
  get.path = post.path = "/api/collections/posts/records";
  realtime.path = "/api/realtime";
  for (const auto& m : mounts) {
    EXPECT_EQ(m.route_class(get), RouteClass::kRead) << m.name;
    EXPECT_EQ(m.route_class(post), RouteClass::kWrite) << m.name;
  }
  EXPECT_EQ(mounts[1].route_class(realtime), RouteClass::kLocal) << "a data API subscription";
  sites::SiteMount planted = mounts[0];
  planted.route_class = nullptr;
  EXPECT_NE(sites::MountProblem(planted).find("no class"), std::string::npos);
}

TEST(Routes, DispatchPicksTheMostSpecificPatternAndAnswers404And405) {
  RouteTable table;
  std::string hit;
  auto mark = [&hit](const char* what) { return [&hit, what](api::ApiCall&) { hit = what; }; };
  ASSERT_TRUE(table
                  .Add({Method::kGet, "certs/local-ca", K::kRead, BodyMode::kBuffered,
                        RouteClass::kRead, mark("local-ca")})
                  .ok());
  ASSERT_TRUE(table
                  .Add({Method::kGet, "certs/*", K::kRead, BodyMode::kBuffered, RouteClass::kRead,
                        mark("one")})
                  .ok());
  ASSERT_TRUE(table
                  .Add({Method::kDelete, "certs/*", K::kOther, BodyMode::kBuffered,
                        RouteClass::kWrite, mark("delete")})
                  .ok());
  ASSERT_TRUE(table
                  .Add({Method::kPost, "things", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
                        [&hit](api::ApiCall& c) { hit = c.body.value("a", std::string()); }})
                  .ok());
  auto run = [&](Method m, const std::string& path, const std::string& body = "") {
    Request req;
    req.method = m;
    req.path = path;
    req.body = body;
    Response res;
    hit.clear();
    table.Dispatch(req, res, 0);
    return res;
  };
  run(Method::kGet, "/_hearth/api/certs/local-ca");
  EXPECT_EQ(hit, "local-ca");
  run(Method::kGet, "/_hearth/api/certs/3");
  EXPECT_EQ(hit, "one");
  run(Method::kDelete, "/_hearth/api/certs/3");
  EXPECT_EQ(hit, "delete");
  Response r = run(Method::kDelete, "/_hearth/api/certs/local-ca");
  EXPECT_EQ(r.status, 405) << "the literal row shadows the wildcard's";
  EXPECT_EQ(r.FindHeader("Allow"), "GET, HEAD") << "a GET row serves HEAD too";
  EXPECT_EQ(hit, "");
  EXPECT_EQ(run(Method::kGet, "/_hearth/api/nothing").status, 404);
  EXPECT_EQ(run(Method::kPost, "/_hearth/api/certs/3").status, 405);
  run(Method::kPost, "/_hearth/api/things", R"({"a":"b"})");
  EXPECT_EQ(hit, "b");
  EXPECT_EQ(run(Method::kPost, "/_hearth/api/things", "[1]").status, 400);
  EXPECT_EQ(run(Method::kPost, "/_hearth/api/things", "{").status, 400);
}

// A streamed row and a buffered one under the same first segments: the
// buffered one's body is read whole and capped at max-body-size, through the
// real connection and the table as the server's handler (a decision by path
// prefix would stream every "sites/" request, uncapped by the buffer's rule).
TEST(Routes, ABufferedRouteBesideAStreamedOneIsBufferedAndCapped) {
  RouteTable table;
  std::string seen;
  ASSERT_TRUE(
      table
          .Add({Method::kPut, "sites/*/blobs", K::kOther, BodyMode::kStreamed, RouteClass::kWrite,
                [&seen](api::ApiCall& c) {
                  seen = c.req.body_pending ? "streamed" : "whole:" + c.req.body;
                  c.res.SetText(202, "text/plain", "ok");
                }})
          .ok());
  ASSERT_TRUE(table
                  .Add({Method::kPost, "sites/*/deploys", K::kSiteDeploy, BodyMode::kBuffered,
                        RouteClass::kWrite,
                        [&seen](api::ApiCall& c) {
                          seen = c.req.body_pending ? "streamed" : "whole:" + c.req.body;
                          c.res.SetText(201, "text/plain", "ok");
                        }})
                  .ok());
  Handler handler = api::MakeRouteHandler(&table, 0);
  H1Context ctx;
  ctx.handler = &handler;
  ctx.limits.max_body_bytes = 32;
  std::string date = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
  ctx.date_line = &date;
  ctx.body_route = [&table](const Request& r) { return ApiBodyRoute(table, r); };
  auto send = [&ctx](const std::string& bytes) {
    H1Connection conn(&ctx, "127.0.0.1");
    std::string_view in = bytes;
    std::string out;
    for (int i = 0; i < 100 && !in.empty(); ++i) {
      size_t space = 0;
      char* buf = conn.ReadBuffer(&space);
      size_t n = std::min(space, in.size());
      memcpy(buf, in.data(), n);
      conn.OnRead(n);
      in.remove_prefix(n);
      conn.Advance();
      out += conn.out().DrainToString();
    }
    return out;
  };
  auto request = [](const char* method, const char* path, const std::string& body) {
    return std::string(method) + " " + path +
           " HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
           body;
  };
  std::string json = R"({"files":[]})";
  std::string out = send(request("POST", "/_hearth/api/sites/blog.localhost/deploys", json));
  EXPECT_EQ(out.rfind("HTTP/1.1 201", 0), 0u) << out.substr(0, 80);
  EXPECT_EQ(seen, "whole:" + json) << "the buffered row gets its body whole";
  seen.clear();
  out = send(request("POST", "/_hearth/api/sites/blog.localhost/deploys", std::string(64, 'x')));
  EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out.substr(0, 80);
  EXPECT_EQ(seen, "") << "past max-body-size the handler never runs";
  out = send(request("PUT", "/_hearth/api/sites/blog.localhost/blobs", std::string(16, 'x')));
  EXPECT_EQ(out.rfind("HTTP/1.1 202", 0), 0u) << out.substr(0, 80);
  EXPECT_EQ(seen, "streamed") << "the streamed row beside it still streams";
  // A request no row serves is buffered (its answer does not read the body).
  Request other;
  other.method = Method::kPost;
  other.path = "/_hearth/api/sites/blog.localhost/other";
  EXPECT_EQ(ApiBodyRoute(table, other), BodyRoute::kBuffer);
}

}  // namespace
}  // namespace hearth

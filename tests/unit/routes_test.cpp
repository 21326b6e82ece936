// The control API's route table: every row declares a class, the table
// refuses one that does not, and the token scope rule agrees with every
// row's declared auth.
#include "api/routes.h"

#include <gtest/gtest.h>

#include <set>

#include "api/token_scope.h"
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
    EXPECT_EQ(api::ClassifyApiRequest(r.method, name).kind, r.auth) << name;
    patterns.insert(r.pattern);
  }
  // Each part's routes are in the one table.
  for (const char* p : {"sites", "sites/*/deploys", "blobs/*", "sites/*/collections/*", "tokens",
                        "admins/*", "certs/local-ca"})
    EXPECT_TRUE(patterns.count(p)) << p;
  // The streamed uploads' prefix comes from the table.
  EXPECT_EQ(t.table.StreamedPrefixes(), std::vector<std::string>{"/_hearth/api/blobs/"});
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
  EXPECT_EQ(hit, "");
  EXPECT_EQ(run(Method::kGet, "/_hearth/api/nothing").status, 404);
  EXPECT_EQ(run(Method::kPost, "/_hearth/api/certs/3").status, 405);
  run(Method::kPost, "/_hearth/api/things", R"({"a":"b"})");
  EXPECT_EQ(hit, "b");
  EXPECT_EQ(run(Method::kPost, "/_hearth/api/things", "[1]").status, 400);
  EXPECT_EQ(run(Method::kPost, "/_hearth/api/things", "{").status, 400);
}

}  // namespace
}  // namespace hearth

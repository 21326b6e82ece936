#pragma once
// The control API's routes as data: every part registers its endpoints
// under /_hearth/api/ into one RouteTable, each a row of method, pattern,
// auth, body mode and class. The table dispatches (404 for a path no row
// has, 405 with Allow for a method it lacks); the token rule and the
// composition root's body decision ask it which row a request is (Match), so
// what a token may do and whether a body streams follow the row, not a
// reading of the path of their own; tests enumerate it.
//
// A route's class says what a request does to the server's state:
//   read   it only reads (a cluster may answer it on any node)
//   write  it changes hearth.db or an app database (a cluster forwards it
//          to the leader)
//   local  it concerns this process only (a stream, a local file)
// It has no default: a row without one is refused at registration
// (ValidateRoute), so adding an endpoint means deciding it.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/token_scope.h"
#include "base/result.h"
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"

namespace hearth::api {

// Zero is no class: a row whose class was left out is value-initialized to
// it and refused.
enum class RouteClass : uint8_t { kRead = 1, kWrite, kLocal };
const char* RouteClassName(RouteClass c);  // "read", "write", "local"; "" for none

enum class BodyMode : uint8_t {
  kBuffered = 1,     // whole in Request::body; a non-empty POST/PATCH body must be a JSON object
  kStreamed,         // piece by piece into the handler's BodySink (Request::body_pending),
                     // up to max-body-size (blob uploads)
  kStreamedAnySize,  // the same, and larger than max-body-size
};

// What a handler receives: the request, the method its row serves (GET for
// a HEAD: handlers branch on this, never on req.method, so a HEAD answers as
// the GET does; req.method stays HEAD so the connection drops the body), its
// path's segments after /_hearth/api/, the parsed JSON body (kBuffered; {}
// when empty), and this worker's store reader.
struct ApiCall {
  Request& req;
  Method method;
  Response& res;
  const std::vector<std::string_view>& seg;
  const nlohmann::json& body;
  int reader;
};
using ApiHandler = std::function<void(ApiCall&)>;

struct RouteSpec {
  Method method;
  // Segments after /_hearth/api/, '/'-separated; "*" matches one segment:
  // "sites/*/versions".
  std::string pattern;
  // What the token scope rule (token_scope.h) takes this request for
  // (RouteTable::Target reads it; for the kinds with a key, the key is the
  // segment the pattern's first "*" matches).
  ApiTarget::Kind auth;
  BodyMode body;
  RouteClass route_class;
  ApiHandler handler;
};

// Why `spec` cannot be a route ("" if it can): no auth, no class, no body
// mode, no handler, an empty pattern or an empty segment in it; a read auth
// (kRead, kSiteVersions) on a method other than GET; a keyed auth
// (kSiteVersions, kSiteDeploy, kPublish, kBlob) without a "*" for its key.
std::string RouteProblem(const RouteSpec& spec);

class RouteTable {
 public:
  // Refuses a row RouteProblem finds fault with, or a second row with the
  // same method and pattern.
  Status Add(RouteSpec spec);
  // The row that serves `method` on `path` (a path under /_hearth/api/):
  // among rows whose pattern matches the path, those with the most literal
  // segments win ("certs/local-ca" over "certs/*"), then the one with the
  // method; HEAD is served by the GET row. nullptr if no pattern matches or
  // the winners lack the method.
  const RouteSpec* Match(Method method, std::string_view path) const;
  // Serves a request under /_hearth/api/ (the caller checked its token) with
  // the row Match finds: 404 for a path no pattern matches, 405 with Allow
  // for a method the matching patterns lack.
  void Dispatch(Request& req, Response& res, int reader) const;
  // What the token rule takes a request under /_hearth/api/ for: the
  // matched row's auth, keyed by its first "*" segment (a site's name
  // normalized; one that cannot be is no site's, ""). Anything under tokens/
  // is kTokens, matched or not; a request no row serves is kRead for GET and
  // HEAD and kOther otherwise, so an unknown path is refused (401, 403)
  // before it is found missing (404), as a known one is.
  ApiTarget Target(Method method, std::string_view path) const;
  const std::vector<RouteSpec>& routes() const { return routes_; }

 private:
  struct Row {
    std::vector<std::string> segments;
    int literals = 0;
  };
  // Match's work on the path's segments; `allow` (if given) gets the methods
  // of the winning patterns, and `found` whether any pattern matched.
  const RouteSpec* Find(Method method, const std::vector<std::string_view>& seg, bool* found,
                        std::string* allow) const;
  std::vector<RouteSpec> routes_;
  std::vector<Row> rows_;
};

// The table as this worker's handler.
Handler MakeRouteHandler(const RouteTable* table, int reader);

}  // namespace hearth::api

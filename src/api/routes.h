#pragma once
// The control API's routes as data: every part registers its endpoints
// under /_hearth/api/ into one RouteTable, each a row of method, pattern,
// auth, body mode and class. The table dispatches (404 for a path no row
// has, 405 with Allow for a method it lacks), the composition root derives
// which prefixes stream their bodies from it, and tests enumerate it.
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
  kStreamed,         // piece by piece into the handler's BodySink (Request::body_pending)
  kStreamedAnySize,  // the same, and larger than max-body-size (blob uploads)
};

// What a handler receives: the request, its path's segments after
// /_hearth/api/, the parsed JSON body (kBuffered; {} when empty), and this
// worker's store reader.
struct ApiCall {
  Request& req;
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
  // What the token scope rule (token_scope.h) takes this request for: a
  // test checks that ClassifyApiRequest agrees for every row.
  ApiTarget::Kind auth;
  BodyMode body;
  RouteClass route_class;
  ApiHandler handler;
};

// Why `spec` cannot be a route ("" if it can): no class, no body mode, no
// handler, an empty pattern or an empty segment in it.
std::string RouteProblem(const RouteSpec& spec);

class RouteTable {
 public:
  // Refuses a row RouteProblem finds fault with, or a second row with the
  // same method and pattern.
  Status Add(RouteSpec spec);
  // Serves a request under /_hearth/api/ (the caller checked its token).
  // Among rows whose pattern matches the path, those with the most literal
  // segments win ("certs/local-ca" over "certs/*").
  void Dispatch(Request& req, Response& res, int reader) const;
  const std::vector<RouteSpec>& routes() const { return routes_; }
  // The path prefixes ("/_hearth/api/blobs/") of rows that stream their body:
  // the literal segments before the first "*".
  std::vector<std::string> StreamedPrefixes() const;

 private:
  struct Row {
    std::vector<std::string> segments;
    int literals = 0;
  };
  std::vector<RouteSpec> routes_;
  std::vector<Row> rows_;
};

// The table as this worker's handler.
Handler MakeRouteHandler(const RouteTable* table, int reader);

}  // namespace hearth::api

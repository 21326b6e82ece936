#include "api/routes.h"

#include "api/reply.h"
#include "base/json.h"
#include "base/strings.h"
#include "http/host_name.h"

namespace hearth::api {
namespace {

const char* MethodText(Method m) {
  switch (m) {
    case Method::kGet:
      return "GET";
    case Method::kHead:
      return "HEAD";
    case Method::kPost:
      return "POST";
    case Method::kPut:
      return "PUT";
    case Method::kDelete:
      return "DELETE";
    case Method::kPatch:
      return "PATCH";
    case Method::kOptions:
      return "OPTIONS";
    default:
      return "?";
  }
}

std::vector<std::string> Split(std::string_view pattern) {
  std::vector<std::string> out;
  while (true) {
    size_t slash = pattern.find('/');
    out.emplace_back(pattern.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    pattern.remove_prefix(slash + 1);
  }
}

// A path's segments after /_hearth/api, as every row's pattern is written.
std::vector<std::string_view> ApiSegments(std::string_view path) {
  constexpr std::string_view kApi = "/_hearth/api";
  if (path.substr(0, kApi.size()) == kApi) path.remove_prefix(kApi.size());
  return Segments(path);
}

}  // namespace

const char* RouteClassName(RouteClass c) {
  switch (c) {
    case RouteClass::kRead:
      return "read";
    case RouteClass::kWrite:
      return "write";
    case RouteClass::kLocal:
      return "local";
  }
  return "";
}

std::string RouteProblem(const RouteSpec& spec) {
  using K = ApiTarget::Kind;
  std::string name = std::string(MethodText(spec.method)) + " " + spec.pattern;
  switch (spec.auth) {
    case K::kRead:
    case K::kSiteVersions:
      // A read token may make it: a row that changes anything must not be one.
      if (spec.method != Method::kGet)
        return name + ": a read auth on a method other than GET: a read token could make it";
      break;
    case K::kSiteDeploy:
    case K::kPublish:
    case K::kBlob:
    case K::kTokens:
    case K::kOther:
      break;
    default:
      return name + ": no auth (who may make the request): say which kind it is";
  }
  if (RouteClassName(spec.route_class)[0] == '\0')
    return name + ": no class (read, write or local): say what the request does";
  if (spec.body != BodyMode::kBuffered && spec.body != BodyMode::kStreamed &&
      spec.body != BodyMode::kStreamedAnySize)
    return name + ": no body mode";
  if (!spec.handler) return name + ": no handler";
  if (spec.pattern.empty()) return name + ": an empty pattern";
  bool wildcard = false;
  for (const auto& s : Split(spec.pattern)) {
    if (s.empty()) return name + ": an empty segment";
    wildcard = wildcard || s == "*";
  }
  // Target takes the key from the first "*": without one every site's (or
  // deploy's, or blob's) request would carry the empty key.
  bool keyed = spec.auth == K::kSiteVersions || spec.auth == K::kSiteDeploy ||
               spec.auth == K::kPublish || spec.auth == K::kBlob;
  if (keyed && !wildcard) return name + ": a keyed auth without a \"*\" segment for its key";
  return "";
}

Status RouteTable::Add(RouteSpec spec) {
  if (std::string why = RouteProblem(spec); !why.empty()) return Error{"control route " + why};
  for (const auto& r : routes_)
    if (r.method == spec.method && r.pattern == spec.pattern)
      return Error{"control route " + std::string(MethodText(spec.method)) + " " + spec.pattern +
                   " is registered twice"};
  Row row;
  row.segments = Split(spec.pattern);
  for (const auto& s : row.segments) row.literals += s != "*";
  rows_.push_back(std::move(row));
  routes_.push_back(std::move(spec));
  return OkStatus();
}

const RouteSpec* RouteTable::Find(Method method, const std::vector<std::string_view>& seg,
                                  bool* found, std::string* allow) const {
  // HEAD is GET without the body (the connection drops it).
  Method wanted = method == Method::kHead ? Method::kGet : method;
  int best = -1;
  const RouteSpec* chosen = nullptr;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Row& row = rows_[i];
    if (row.segments.size() != seg.size() || row.literals < best) continue;
    bool match = true;
    for (size_t k = 0; k < seg.size() && match; ++k)
      match = row.segments[k] == "*" || row.segments[k] == seg[k];
    if (!match) continue;
    if (row.literals > best) {  // a more specific pattern: forget the others
      best = row.literals;
      chosen = nullptr;
      if (allow) allow->clear();
    }
    if (allow) {
      *allow += std::string(allow->empty() ? "" : ", ") + MethodText(routes_[i].method);
      // A GET row serves HEAD too: say so.
      if (routes_[i].method == Method::kGet) *allow += ", HEAD";
    }
    if (routes_[i].method == wanted) chosen = &routes_[i];
  }
  *found = best >= 0;
  return chosen;
}

const RouteSpec* RouteTable::Match(Method method, std::string_view path) const {
  bool found = false;
  return Find(method, ApiSegments(path), &found, nullptr);
}

ApiTarget RouteTable::Target(Method method, std::string_view path) const {
  using K = ApiTarget::Kind;
  auto seg = ApiSegments(path);
  // The token list is admin's alone, reads and unknown paths under it too.
  if (!seg.empty() && seg[0] == "tokens") return {K::kTokens, ""};
  bool found = false;
  const RouteSpec* row = Find(method, seg, &found, nullptr);
  if (!row) {
    bool reads = method == Method::kGet || method == Method::kHead;
    return {reads ? K::kRead : K::kOther, ""};
  }
  ApiTarget target{row->auth, ""};
  if (row->auth == K::kRead || row->auth == K::kTokens || row->auth == K::kOther) return target;
  const Row& r = rows_[static_cast<size_t>(row - routes_.data())];
  for (size_t k = 0; k < r.segments.size(); ++k) {
    if (r.segments[k] != "*") continue;
    if (row->auth == K::kSiteVersions || row->auth == K::kSiteDeploy) {
      auto host = NormalizeHost(seg[k]);
      if (host.ok()) target.key = *host;
    } else {
      target.key = std::string(seg[k]);
    }
    break;
  }
  return target;
}

void RouteTable::Dispatch(Request& req, Response& res, int reader) const {
  auto seg = ApiSegments(req.path);
  bool found = false;
  std::string allow;
  const RouteSpec* chosen = Find(req.method, seg, &found, &allow);
  if (!found) return Fail(res, 404, "no such API endpoint");
  if (!chosen) {
    Fail(res, 405, "use " + allow);
    res.SetHeader("Allow", allow);
    return;
  }
  nlohmann::json body = nlohmann::json::object();
  if (chosen->body == BodyMode::kBuffered &&
      (req.method == Method::kPost || req.method == Method::kPatch) && !req.body.empty()) {
    auto parsed = ParseJson(req.body);
    if (!parsed.ok()) return Fail(res, 400, parsed.error().message);
    body = std::move(parsed).value();
    if (!body.is_object()) return Fail(res, 400, "the body must be a JSON object");
  }
  // Handlers see the row's method, so a HEAD is answered as its GET is.
  ApiCall call{req, chosen->method, res, seg, body, reader};
  chosen->handler(call);
}

Handler MakeRouteHandler(const RouteTable* table, int reader) {
  return [table, reader](Request& req, Response& res) { table->Dispatch(req, res, reader); };
}

}  // namespace hearth::api

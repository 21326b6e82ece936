#include "api/routes.h"

#include "api/reply.h"
#include "base/json.h"
#include "base/strings.h"

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
  std::string name = std::string(MethodText(spec.method)) + " " + spec.pattern;
  if (RouteClassName(spec.route_class)[0] == '\0')
    return name + ": no class (read, write or local): say what the request does";
  if (spec.body != BodyMode::kBuffered && spec.body != BodyMode::kStreamed &&
      spec.body != BodyMode::kStreamedAnySize)
    return name + ": no body mode";
  if (!spec.handler) return name + ": no handler";
  if (spec.pattern.empty()) return name + ": an empty pattern";
  for (const auto& s : Split(spec.pattern))
    if (s.empty()) return name + ": an empty segment";
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

std::vector<std::string> RouteTable::StreamedPrefixes() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].body == BodyMode::kBuffered) continue;
    std::string prefix = "/_hearth/api/";
    for (const auto& s : rows_[i].segments) {
      if (s == "*") break;
      prefix += s + "/";
    }
    bool seen = false;
    for (const auto& p : out) seen |= p == prefix;
    if (!seen) out.push_back(prefix);
  }
  return out;
}

void RouteTable::Dispatch(Request& req, Response& res, int reader) const {
  auto seg = Segments(std::string_view(req.path).substr(std::string_view("/_hearth/api").size()));
  int best = -1;
  const RouteSpec* chosen = nullptr;
  std::string allow;
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
      allow.clear();
    }
    allow += std::string(allow.empty() ? "" : ", ") + MethodText(routes_[i].method);
    if (routes_[i].method == req.method) chosen = &routes_[i];
  }
  if (best < 0) return Fail(res, 404, "no such API endpoint");
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
  ApiCall call{req, res, seg, body, reader};
  chosen->handler(call);
}

Handler MakeRouteHandler(const RouteTable* table, int reader) {
  return [table, reader](Request& req, Response& res) { table->Dispatch(req, res, reader); };
}

}  // namespace hearth::api

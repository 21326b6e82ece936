#include "control/api.h"

#include <nlohmann/json.hpp>

#include "api/reply.h"
#include "base/json.h"
#include "base/strings.h"
#include "control/admins_api.h"
#include "control/certs_api.h"
#include "control/tokens_api.h"

namespace hearth::control {

Handler MakeControlApiHandler(ControlShared* shared, int reader, Handler next) {
  return [shared, reader, next = std::move(next)](Request& req, Response& res) {
    auto seg = Segments(req.path.substr(std::string_view("/_hearth/api").size()));
    if (seg.empty() || seg.size() > 2 ||
        (seg[0] != "certs" && seg[0] != "admins" && seg[0] != "tokens"))
      return next(req, res);
    nlohmann::json body = nlohmann::json::object();
    if ((req.method == Method::kPost || req.method == Method::kPatch) && !req.body.empty()) {
      auto parsed = ParseJson(req.body);
      if (!parsed.ok()) return api::Fail(res, 400, parsed.error().message);
      body = std::move(parsed).value();
      if (!body.is_object()) return api::Fail(res, 400, "the body must be a JSON object");
    }
    store::Connection& rd = shared->store->Reader(reader);
    if (seg[0] == "certs") return ServeCerts(shared, rd, seg, req, res, body);
    if (seg[0] == "admins") return ServeAdmins(shared, rd, seg, req, res, body);
    return ServeTokens(shared, rd, seg, req, res, body);
  };
}

}  // namespace hearth::control

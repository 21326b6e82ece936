#include "control/api.h"

#include "control/admins_api.h"
#include "control/certs_api.h"
#include "control/tokens_api.h"

namespace hearth::control {

Status AddApiRoutes(api::RouteTable* table, ControlShared* shared) {
  using api::BodyMode;
  using api::RouteClass;
  using K = api::ApiTarget::Kind;
  using Serve = void (*)(ControlShared*, store::Connection&, const std::vector<std::string_view>&,
                         Method, Response&, const nlohmann::json&);
  // Each group's handler tells its rows apart by method and segments.
  auto via = [shared](Serve serve) {
    return [shared, serve](api::ApiCall& c) {
      serve(shared, shared->store->Reader(c.reader), c.seg, c.method, c.res, c.body);
    };
  };
  const api::RouteSpec routes[] = {
      {Method::kGet, "tokens", K::kTokens, BodyMode::kBuffered, RouteClass::kRead,
       via(ServeTokens)},
      {Method::kPost, "tokens", K::kTokens, BodyMode::kBuffered, RouteClass::kWrite,
       via(ServeTokens)},
      {Method::kDelete, "tokens/*", K::kTokens, BodyMode::kBuffered, RouteClass::kWrite,
       via(ServeTokens)},
      {Method::kGet, "admins", K::kRead, BodyMode::kBuffered, RouteClass::kRead, via(ServeAdmins)},
      {Method::kPost, "admins", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       via(ServeAdmins)},
      {Method::kPatch, "admins/*", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       via(ServeAdmins)},
      {Method::kDelete, "admins/*", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       via(ServeAdmins)},
      {Method::kGet, "certs", K::kRead, BodyMode::kBuffered, RouteClass::kRead, via(ServeCerts)},
      {Method::kPost, "certs", K::kOther, BodyMode::kBuffered, RouteClass::kWrite, via(ServeCerts)},
      {Method::kGet, "certs/local-ca", K::kRead, BodyMode::kBuffered, RouteClass::kRead,
       via(ServeCerts)},
      {Method::kPost, "certs/local-ca", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       via(ServeCerts)},
      {Method::kGet, "certs/*", K::kRead, BodyMode::kBuffered, RouteClass::kRead, via(ServeCerts)},
      {Method::kDelete, "certs/*", K::kOther, BodyMode::kBuffered, RouteClass::kWrite,
       via(ServeCerts)},
  };
  for (const auto& r : routes)
    if (Status st = table->Add(r); !st.ok()) return st;
  return OkStatus();
}

}  // namespace hearth::control

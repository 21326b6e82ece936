#include "server/api_routes.h"

#include "control/api.h"
#include "data/api.h"

namespace hearth {

Status AddApiRoutes(api::RouteTable* table, sites::SitesShared* sites, data::Apps* apps,
                    control::ControlShared* control) {
  if (Status st = sites::AddApiRoutes(table, sites); !st.ok()) return st;
  auto site_exists = [sites](int reader, const std::string& name) {
    return sites::SiteExists(sites, reader, name);
  };
  if (Status st = data::AddCollectionRoutes(table, apps, site_exists); !st.ok()) return st;
  return control::AddApiRoutes(table, control);
}

BodyRoute ApiBodyRoute(const api::RouteTable& table, const Request& req) {
  const api::RouteSpec* row = table.Match(req.method, req.path);
  if (!row) return BodyRoute::kBuffer;
  switch (row->body) {
    case api::BodyMode::kStreamed:
      return BodyRoute::kStream;
    case api::BodyMode::kStreamedAnySize:
      return BodyRoute::kStreamAnySize;
    default:
      return BodyRoute::kBuffer;
  }
}

}  // namespace hearth

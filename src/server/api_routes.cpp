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

}  // namespace hearth

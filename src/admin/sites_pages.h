#pragma once
// The console's sites pages: /_hearth/sites (every site, its host names,
// live version and what it serves), /_hearth/sites/{site} (its versions,
// each with a rollback button and a preview link), the rollback form's
// post, and /_hearth/changes, the event stream that redraws both when what
// hosts serve changes. The router and the session checks are admin.cpp's.
#include <cstdint>
#include <string>

#include "admin/common.h"

namespace hearth::admin {

// GET /_hearth/sites
void SitesPage(PageContext& ctx);
// GET /_hearth/sites/{site}; ?live=N or ?deployed=N say what just happened.
void SitePage(PageContext& ctx, const std::string& site);
// POST /_hearth/sites/{site}/rollback with version `to` (checked: > 0):
// 303 to the site's page, or a page saying why not.
void RollbackPost(PageContext& ctx, const std::string& site, uint64_t to);
// GET /_hearth/changes?since=G: server-sent events, "sites" each time what
// hosts serve changes after generation G.
void ChangesStream(PageContext& ctx);

}  // namespace hearth::admin

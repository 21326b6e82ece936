#pragma once
// The console's data pages: /_hearth/sites/{site}/data[/...] (collections,
// fields, rules, records, and the realtime stream the pages listen to).
#include <string>
#include <vector>

#include "admin/common.h"

namespace hearth::admin {

// `rest`: the path segments after ".../data", decoded. `form`: the posted
// form (CSRF already checked), or null for a GET.
void ServeDataPage(PageContext& ctx, const std::string& site, const std::vector<std::string>& rest,
                   const Form* form);

}  // namespace hearth::admin

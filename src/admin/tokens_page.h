#pragma once
// The console's Tokens page: the API tokens (name, scope, created, expires,
// last used; never a secret), a form to add one (its secret shown once, on
// the page that answers the form), and a revoke button per token. All
// through the control API's /tokens, so the API's checks apply.
#include <string>
#include <vector>

#include "admin/common.h"

namespace hearth::admin {

// GET /_hearth/tokens
void TokensPage(PageContext& ctx);
// POST /_hearth/tokens (add), /_hearth/tokens/{id}/revoke. `rest`: the
// decoded segments after "tokens".
void TokensPost(PageContext& ctx, const std::vector<std::string>& rest, const Form& form);

}  // namespace hearth::admin

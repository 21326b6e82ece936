#pragma once
// The console's Admins page: the admin users who log in with an email and a
// password: add one, set a new password, remove one (all through the control
// API's /admins, so the API's checks apply).
#include <string>
#include <vector>

#include "admin/common.h"

namespace hearth::admin {

// GET /_hearth/admins
void AdminsPage(PageContext& ctx);
// POST /_hearth/admins (add), /_hearth/admins/{email}/password,
// /_hearth/admins/{email}/remove. `rest`: the decoded segments after "admins".
void AdminsPost(PageContext& ctx, const std::vector<std::string>& rest, const Form& form);

}  // namespace hearth::admin

#pragma once
// /_hearth/api/admins[/{email}]: the admin users who log in to the console
// with an email and a password (see docs/admin.md). Passwords are stored as
// argon2id hashes, made off the worker; the API never shows them.
//   GET    admins           {"items": [{email, created_at, updated_at, last_login_at}]}
//   POST   admins           {email, password}  201; 409 if the email is taken
//   PATCH  admins/{email}   {password}         ends that admin's sessions
//   DELETE admins/{email}                      ends that admin's sessions
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "control/control.h"
#include "http/request.h"
#include "http/response.h"
#include "store/sqlite.h"

namespace hearth::control {

inline constexpr size_t kMinAdminPassword = 10;   // characters
inline constexpr size_t kMaxAdminPassword = 256;  // bytes: argon2id reads them all

// Why `password` cannot be an admin's, in one line ("" if it can).
std::string AdminPasswordProblem(std::string_view password);
// Why `email` cannot name an admin ("" if it can).
std::string AdminEmailProblem(std::string_view email);

// `seg`: the path's segments after /_hearth/api ("admins"[, email]); `body`:
// the request's JSON object ({} when empty). The caller checked the token.
// `m`: the method of the row that serves it (GET for a HEAD). Only this
// part's rows arrive: the route table answers 404 and 405 for the rest.
void ServeAdmins(ControlShared* shared, store::Connection& rd,
                 const std::vector<std::string_view>& seg, Method m, Response& res,
                 const nlohmann::json& body);

}  // namespace hearth::control

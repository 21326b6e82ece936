#pragma once
// Logging in to the console: with an admin token, or as an admin user (an
// email and a password, checked with argon2id off the worker). Failed
// attempts are throttled per client network and per account, so a password
// cannot be guessed faster than a few tries a minute.
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/login_throttle.h"
#include "http/request.h"
#include "http/response.h"
#include "sites/sites.h"

namespace hearth::admin {

// The throttle every worker's console shares (failed console logins).
LoginThrottle& SharedLoginThrottle();

// Only the console's own pages are a place to go back to after login.
std::string SafeNext(std::string_view next);

// Prepares what the first login needs (the decoy hash) on the background queue.
void WarmLogin(sites::SitesShared* shared);

// GET and POST /_hearth/login. `reader`: the worker's reader.
void ServeLogin(sites::SitesShared* shared, int reader, Request& req, Response& res);

}  // namespace hearth::admin

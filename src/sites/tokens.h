#pragma once
// Admin tokens for the control API. Only a token's SHA-256 is stored; the
// secret is shown once when made (and the first one is also saved to
// DATA/admin.token, mode 0600, so the CLI on the same machine finds it).
#include <string>

#include "base/result.h"
#include "http/router.h"
#include "store/store.h"

namespace hearth::sites {

// "hth_" and 43 characters of base64url (32 random bytes).
std::string NewToken();

// A new token: the secret (shown once), its public id, and the hash that is stored.
struct TokenRecord {
  std::string token, id, hash;
};
TokenRecord MakeToken();

// Inserts a token; returns its secret.
Result<std::string> CreateToken(store::Store& store, const std::string& name);

// On first start (no token yet) creates the admin token, saves it to
// DATA/admin.token and returns it; otherwise returns "".
Result<std::string> EnsureAdminToken(store::Store& store, const std::string& data_dir);

// Whether an Authorization value ("Bearer <token>", or the bare token as the
// pocketbase SDK sends it) carries a known token; looked up on reader `reader`.
bool IsKnownToken(store::Store* store, int reader, std::string_view authorization);

// Middleware: answers 401 unless the request carries a known token
// (Authorization: Bearer <token>). Looks it up on reader `reader`.
Middleware RequireToken(store::Store* store, int reader);

}  // namespace hearth::sites

#pragma once
// Password hashes: argon2id (libsodium), 2 passes over 19 MiB (OWASP's
// minimum), for the console's admin users and data API auth records alike.
// A hash costs 20-50 ms, so it runs on a background thread, never a worker.
#include <string>
#include <string_view>

namespace hearth::crypto {

// The encoded hash ("$argon2id$v=19$..."), salted; "" if libsodium failed.
std::string HashPassword(std::string_view password);
// Whether `password` matches `hash` (false for an empty or malformed hash).
bool VerifyPassword(std::string_view hash, std::string_view password);

}  // namespace hearth::crypto

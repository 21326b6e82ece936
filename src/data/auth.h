#pragma once
// Auth for the data API: argon2id password hashes (libsodium) and the JWTs
// (HS256) that auth collections' records sign in with, PocketBase-style.
//
// A token's key is the app's secret joined with the record's tokenKey, so a
// new password (which draws a new tokenKey) ends every token made before it.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace hearth::data {

// argon2id, 2 passes over 19 MiB (OWASP's minimum): about 20-50 ms, so it runs
// on a background thread, never a worker.
std::string HashPassword(std::string_view password);
bool VerifyPassword(std::string_view hash, std::string_view password);

std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

// header.payload.signature with {"alg":"HS256","typ":"JWT"}.
std::string MakeJwt(const nlohmann::json& payload, std::string_view key);
// The payload of a well-formed HS256 token, before its signature is checked
// (the key depends on the record it names). Null if malformed.
std::optional<nlohmann::json> PeekJwt(std::string_view token);
// Whether `token`'s signature is right for `key` and it has not expired.
bool CheckJwt(std::string_view token, std::string_view key, int64_t now_unix);

// 30 random characters (a tokenKey, a secret).
std::string RandomKey();

}  // namespace hearth::data

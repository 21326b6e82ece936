#pragma once
// JWTs signed with HMAC-SHA-256 (HS256), as PocketBase's clients expect them:
// header.payload.signature, each part base64url without padding. The data
// API's auth and file tokens are these.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::crypto {

// header.payload.signature with {"alg":"HS256","typ":"JWT"}.
std::string MakeJwt(const nlohmann::json& payload, std::string_view key);
// The payload of a well-formed HS256 token, before its signature is checked
// (the key depends on the record it names). Null if malformed.
std::optional<nlohmann::json> PeekJwt(std::string_view token);
// Whether `token`'s signature is right for `key` (compared in constant time)
// and it has not expired ("exp" after `now_unix`).
bool CheckJwt(std::string_view token, std::string_view key, int64_t now_unix);

}  // namespace hearth::crypto

#include "crypto/jwt.h"

#include <openssl/crypto.h>

#include "base/json.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"

namespace hearth::crypto {

std::string MakeJwt(const nlohmann::json& payload, std::string_view key) {
  std::string input =
      Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})") + "." + Base64UrlEncode(payload.dump());
  return input + "." + Base64UrlEncode(HmacSha256(key, input));
}

std::optional<nlohmann::json> PeekJwt(std::string_view token) {
  if (token.size() > 4096) return std::nullopt;
  size_t a = token.find('.');
  size_t b = a == std::string_view::npos ? a : token.find('.', a + 1);
  if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos)
    return std::nullopt;
  auto header = Base64UrlDecode(token.substr(0, a));
  auto payload = Base64UrlDecode(token.substr(a + 1, b - a - 1));
  if (!header || !payload) return std::nullopt;
  // The client's text: parsed with the same bounds as every request body.
  auto h = ParseJson(*header, JsonLimits{8, 64});
  if (!h.ok() || !h->is_object() || !(*h)["alg"].is_string() ||
      (*h)["alg"].get<std::string>() != "HS256")
    return std::nullopt;
  auto p = ParseJson(*payload, JsonLimits{8, 256});
  if (!p.ok() || !p->is_object()) return std::nullopt;
  return std::move(p).value();
}

bool CheckJwt(std::string_view token, std::string_view key, int64_t now_unix) {
  size_t b = token.rfind('.');
  if (b == std::string_view::npos) return false;
  std::string expected = Base64UrlEncode(HmacSha256(key, token.substr(0, b)));
  std::string_view got = token.substr(b + 1);
  if (got.size() != expected.size() || CRYPTO_memcmp(got.data(), expected.data(), got.size()) != 0)
    return false;
  auto p = PeekJwt(token);
  if (!p || !(*p)["exp"].is_number_integer()) return false;
  return (*p)["exp"].get<int64_t>() > now_unix;
}

}  // namespace hearth::crypto

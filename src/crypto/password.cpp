#include "crypto/password.h"

#include <sodium.h>

#include "crypto/random.h"

namespace hearth::crypto {
namespace {

constexpr unsigned long long kOps = 2;
constexpr size_t kMem = 19u << 20;

}  // namespace

std::string HashPassword(std::string_view password) {
  if (!SodiumReady()) return {};
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kOps, kMem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return {};
  return out;
}

bool VerifyPassword(std::string_view hash, std::string_view password) {
  if (!SodiumReady() || hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  std::string h(hash);
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

}  // namespace hearth::crypto

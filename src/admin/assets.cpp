#include "admin/assets.h"

#include <cstdio>

namespace hearth::admin {

const Asset* FindAsset(std::string_view name) {
  for (const Asset& a : Assets())
    if (a.name == name) return &a;
  return nullptr;
}

std::string AssetVersion(const Asset& asset) {
  // FNV-1a, 64 bits: a fingerprint for cache busting, not a security check.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : asset.data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace hearth::admin

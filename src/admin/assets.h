#pragma once
// The admin console's static files (src/admin/assets/), embedded in the
// binary at build time by cmake/embed.cmake: nothing to deploy beside it, no
// CDN. Served at /_hearth/ui/NAME.
#include <string>
#include <string_view>
#include <vector>

namespace hearth::admin {

struct Asset {
  std::string_view name;  // "app.css"
  std::string_view data;
};

// Every embedded file, in the order of their names.
const std::vector<Asset>& Assets();
// The file called `name`, or null.
const Asset* FindAsset(std::string_view name);
// A short fingerprint of the file's bytes (16 hex digits), for cache-busting URLs.
std::string AssetVersion(const Asset& asset);

}  // namespace hearth::admin

#pragma once
// Deploy manifests and the names they contain. Everything a client sends is
// checked here before it reaches the store, and each refusal is one line.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "http/host_name.h"

namespace hearth::sites {

struct ManifestFile {
  std::string path;  // "index.html", "assets/app.3f2a.js": relative, '/'-separated
  std::string hash;  // lower-case hex SHA-256 of the content
  uint64_t size = 0;
};

struct Manifest {
  std::vector<ManifestFile> files;
  std::string message;
};

// {"files":[{"path":..,"hash":..,"size":..}], "message": ".."}. Refuses paths
// that escape the site (.., absolute, backslashes, NUL, empty segments),
// duplicate paths, malformed hashes, sizes over max_file_size, more than
// max_files files.
Result<Manifest> ParseManifest(const nlohmann::json& body, uint64_t max_file_size,
                               size_t max_files);

// Host names are normalized by http/host_name.h; sites' callers name it here.
using ::hearth::NormalizeHost;

}  // namespace hearth::sites

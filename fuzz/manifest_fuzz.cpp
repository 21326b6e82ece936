// Fuzzes what a deploy client sends: JSON manifests and host names. Whatever
// the input, parsing returns a value or an error; an accepted manifest never
// holds a path that could escape the site.
#include <cstddef>
#include <cstdint>
#include <string>

#include "crypto/hash.h"
#include "sites/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto host = hearth::sites::NormalizeHost(text);
  if (host.ok() && (host->find('/') != std::string::npos || host->find("..") != std::string::npos))
    __builtin_trap();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  auto m = hearth::sites::ParseManifest(j, 1 << 20, 1000);
  if (!m.ok()) return 0;
  for (const auto& f : m->files) {
    const std::string& p = f.path;
    if (p.empty() || p[0] == '/' || p.find('\\') != std::string::npos ||
        p.find('\0') != std::string::npos || p.find("//") != std::string::npos || p == ".." ||
        p.rfind("../", 0) == 0 || p.find("/../") != std::string::npos ||
        (p.size() >= 3 && p.substr(p.size() - 3) == "/.."))
      __builtin_trap();
    if (!hearth::crypto::IsSha256Hex(f.hash) || f.size > (1u << 20)) __builtin_trap();
  }
  return 0;
}

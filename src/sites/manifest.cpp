#include "sites/manifest.h"

#include <set>

#include "crypto/hash.h"

namespace hearth::sites {

namespace {
Result<std::string> CheckPath(const std::string& p) {
  if (p.empty()) return Error{"empty path"};
  if (p.size() > 1024) return Error{"path longer than 1024 bytes: " + p.substr(0, 64) + "..."};
  if (p[0] == '/') return Error{"absolute path \"" + p + "\""};
  if (p.find('\\') != std::string::npos) return Error{"backslash in path \"" + p + "\""};
  if (p.find('\0') != std::string::npos) return Error{"NUL in path"};
  size_t start = 0;
  while (true) {
    size_t slash = p.find('/', start);
    std::string_view seg(p.data() + start, (slash == std::string::npos ? p.size() : slash) - start);
    if (seg.empty()) return Error{"empty segment in path \"" + p + "\""};
    if (seg == "." || seg == "..") return Error{"path \"" + p + "\" escapes the site"};
    for (unsigned char c : seg)
      if (c < 0x20 || c == 0x7f) return Error{"control character in path \"" + p + "\""};
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return p;
}
}  // namespace

Result<Manifest> ParseManifest(const nlohmann::json& body, uint64_t max_file_size,
                               size_t max_files) {
  if (!body.is_object()) return Error{"the manifest must be a JSON object"};
  Manifest m;
  if (body.contains("message")) {
    if (!body["message"].is_string()) return Error{"message must be a string"};
    m.message = body["message"].get<std::string>();
    if (m.message.size() > 1000) return Error{"message longer than 1000 bytes"};
  }
  if (!body.contains("files") || !body["files"].is_array()) return Error{"files must be an array"};
  const auto& files = body["files"];
  if (files.size() > max_files) return Error{"more than " + std::to_string(max_files) + " files"};
  std::set<std::string> seen;
  for (const auto& f : files) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("hash") ||
        !f["hash"].is_string() || !f.contains("size") || !f["size"].is_number_integer() ||
        (!f["size"].is_number_unsigned() && f["size"].get<int64_t>() < 0))
      return Error{"each file needs path (string), hash (string) and size (number)"};
    auto path = CheckPath(f["path"].get<std::string>());
    if (!path.ok()) return path.error();
    std::string hash = f["hash"].get<std::string>();
    if (!crypto::IsSha256Hex(hash))
      return Error{"hash of \"" + *path + "\" is not a lower-case hex SHA-256"};
    uint64_t size = f["size"].get<uint64_t>();
    if (size > max_file_size)
      return Error{"\"" + *path + "\" is larger than the limit of " +
                   std::to_string(max_file_size) + " bytes"};
    if (!seen.insert(*path).second) return Error{"duplicate path \"" + *path + "\""};
    m.files.push_back({*path, hash, size});
  }
  return m;
}

}  // namespace hearth::sites

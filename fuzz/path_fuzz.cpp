// Fuzzes request paths on their way to a file: whatever DecodeRequestPath
// accepts must be a relative path with no "." or ".." segment, no NUL and no
// backslash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "files/safe_path.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path(reinterpret_cast<const char*>(data), size);
  std::string rel;
  if (hearth::DecodeRequestPath(path, &rel) != hearth::PathError::kNone) return 0;
  if (!rel.empty() && rel[0] == '/') __builtin_trap();
  if (rel.find('\0') != std::string::npos || rel.find('\\') != std::string::npos) __builtin_trap();
  size_t start = 0;
  while (start <= rel.size()) {
    size_t slash = rel.find('/', start);
    std::string seg = rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (seg == "." || seg == "..") __builtin_trap();
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return 0;
}

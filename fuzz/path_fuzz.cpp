// Fuzzes request paths on their way to a file: whatever DecodeRequestPath
// accepts must be a relative path with no "." or ".." segment, no NUL and no
// backslash. And the normal form every prefix test sees (NormalizePath): it
// starts with '/', has no "//", no dot segment, no '\' or escaped '.', '/',
// '\' or NUL, and is its own normal form.
#include <cstddef>
#include <cstdint>
#include <string>

#include "files/safe_path.h"
#include "http/path.h"

namespace {

bool HasDotSegment(const std::string& p, size_t from) {
  size_t start = from;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    std::string seg =
        p.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (seg == "." || seg == "..") return true;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return false;
}

void CheckNormal(const std::string& path) {
  if (path.empty() || path[0] != '/') return;
  std::string out;
  hearth::PathNormal r = hearth::NormalizePath(path, &out);
  if (r == hearth::PathNormal::kRefused) return;
  const std::string& n = r == hearth::PathNormal::kUnchanged ? path : out;
  if (n.empty() || n[0] != '/') __builtin_trap();
  if (n.find("//") != std::string::npos || n.find('\\') != std::string::npos) __builtin_trap();
  if (HasDotSegment(n, 1)) __builtin_trap();
  for (size_t i = 0; i + 2 < n.size(); ++i) {
    if (n[i] != '%') continue;
    std::string e = n.substr(i + 1, 2);
    for (char& c : e) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    if (e == "2e" || e == "2f" || e == "5c" || e == "00") __builtin_trap();
  }
  std::string again;
  if (hearth::NormalizePath(n, &again) != hearth::PathNormal::kUnchanged) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path(reinterpret_cast<const char*>(data), size);
  CheckNormal(path);
  std::string rel;
  if (hearth::DecodeRequestPath(path, &rel) != hearth::PathError::kNone) return 0;
  if (!rel.empty() && rel[0] == '/') __builtin_trap();
  if (rel.find('\0') != std::string::npos || rel.find('\\') != std::string::npos) __builtin_trap();
  if (HasDotSegment(rel, 0)) __builtin_trap();
  return 0;
}

#include "http/mime.h"

#include "base/strings.h"

namespace hearth {
namespace {
struct Mime {
  const char* ext;
  const char* type;
};
// Sorted by rough frequency on the web; a linear scan over ~40 entries with a
// first-letter check costs less than hashing.
constexpr Mime kMimes[] = {
    {"html", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"svg", "image/svg+xml"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"woff2", "font/woff2"},
    {"woff", "font/woff"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"xml", "application/xml"},
    {"htm", "text/html; charset=utf-8"},
    {"map", "application/json"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"csv", "text/csv; charset=utf-8"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"webmanifest", "application/manifest+json"},
    {"rss", "application/rss+xml"},
    {"atom", "application/atom+xml"},
    {"mjson", "application/json"},
    {"yaml", "text/yaml; charset=utf-8"},
    {"yml", "text/yaml; charset=utf-8"},
    {"toml", "text/plain; charset=utf-8"},
    {"bin", "application/octet-stream"},
};
}  // namespace

std::string_view MimeTypeForPath(std::string_view path) {
  size_t dot = path.rfind('.');
  size_t slash = path.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash))
    return "application/octet-stream";
  std::string_view ext = path.substr(dot + 1);
  if (ext.empty() || ext.size() > 12) return "application/octet-stream";
  char lower[16];
  for (size_t i = 0; i < ext.size(); ++i) lower[i] = AsciiLower(ext[i]);
  std::string_view e(lower, ext.size());
  for (const auto& m : kMimes)
    if (m.ext[0] == e[0] && e == m.ext) return m.type;
  return "application/octet-stream";
}

}  // namespace hearth

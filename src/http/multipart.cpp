#include "http/multipart.h"

#include "base/strings.h"

namespace hearth {
namespace {

constexpr size_t kMaxParts = 1000;

// The value of `key` in a header's parameters: form-data; name="a"; filename="b".
std::string Param(std::string_view header, std::string_view key) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view item = TrimOws(header.substr(0, semi));
    header.remove_prefix(semi == std::string_view::npos ? header.size() : semi + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || !EqualsIgnoreCase(TrimOws(item.substr(0, eq)), key)) continue;
    std::string_view v = TrimOws(item.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return std::string(v);
  }
  return {};
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  std::string_view type = TrimOws(content_type.substr(0, content_type.find(';')));
  if (!EqualsIgnoreCase(type, "multipart/form-data")) return Error{"not multipart/form-data"};
  std::string b = Param(content_type.substr(content_type.find(';') == std::string_view::npos ? content_type.size()
                                                                                            : content_type.find(';') + 1),
                        "boundary");
  if (b.empty() || b.size() > 70) return Error{"multipart/form-data without a usable boundary"};
  return b;
}

Result<std::vector<FormPart>> ParseMultipart(std::string_view body, std::string_view boundary) {
  std::vector<FormPart> parts;
  std::string delim = "--" + std::string(boundary);
  if (body.substr(0, delim.size()) != delim) return Error{"multipart body does not start with its boundary"};
  size_t pos = delim.size();
  std::string next = "\r\n" + delim;
  while (true) {
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n") return Error{"malformed multipart boundary line"};
    pos += 2;
    if (parts.size() >= kMaxParts) return Error{"more than 1000 parts"};
    FormPart part;
    // Headers, up to an empty line.
    while (true) {
      size_t eol = body.find("\r\n", pos);
      if (eol == std::string_view::npos) return Error{"multipart part headers do not end"};
      std::string_view line = body.substr(pos, eol - pos);
      pos = eol + 2;
      if (line.empty()) break;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) return Error{"malformed multipart part header"};
      std::string_view name = TrimOws(line.substr(0, colon)), value = TrimOws(line.substr(colon + 1));
      if (EqualsIgnoreCase(name, "Content-Disposition")) {
        if (!EqualsIgnoreCase(TrimOws(value.substr(0, value.find(';'))), "form-data"))
          return Error{"a multipart part is not form-data"};
        part.name = Param(value.substr(value.find(';') == std::string_view::npos ? value.size() : value.find(';') + 1), "name");
        part.filename = Param(value.substr(value.find(';') == std::string_view::npos ? value.size() : value.find(';') + 1), "filename");
      } else if (EqualsIgnoreCase(name, "Content-Type")) {
        part.content_type = std::string(value);
      }
    }
    if (part.name.empty()) return Error{"a multipart part has no name"};
    size_t end = body.find(next, pos);
    if (end == std::string_view::npos) return Error{"multipart body does not end with its boundary"};
    part.data = body.substr(pos, end - pos);
    parts.push_back(std::move(part));
    pos = end + next.size();
  }
}

}  // namespace hearth

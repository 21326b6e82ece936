#pragma once
#include <string_view>

namespace hearth {
// Content-Type for a file name by its extension; text types carry
// "; charset=utf-8". Unknown: application/octet-stream.
std::string_view MimeTypeForPath(std::string_view path);
}  // namespace hearth

#include "http/host_name.h"

#include <cctype>

namespace hearth {

Result<std::string> NormalizeHost(std::string_view host) {
  if (host.empty() || host.size() > 253)
    return Error{"invalid host name \"" + std::string(host) + "\""};
  std::string h;
  for (char c : host) h.push_back(static_cast<char>(tolower(static_cast<unsigned char>(c))));
  std::string_view rest = h;
  if (rest.substr(0, 2) == "*.") rest.remove_prefix(2);
  size_t start = 0;
  while (true) {
    size_t dot = rest.find('.', start);
    std::string_view label =
        rest.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return Error{"invalid host name \"" + std::string(host) + "\""};
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
        return Error{"invalid host name \"" + std::string(host) + "\""};
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return h;
}

}  // namespace hearth

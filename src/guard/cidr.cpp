#include "guard/cidr.h"

#include <arpa/inet.h>

#include <cstring>

#include "base/strings.h"

namespace hearth::guard {

std::string_view StripPort(std::string_view text) {
  text = TrimOws(text);
  if (text.size() >= 2 && text.front() == '[') {
    size_t close = text.find(']');
    return close == std::string_view::npos ? std::string_view() : text.substr(1, close - 1);
  }
  size_t colon = text.find(':');
  if (colon != std::string_view::npos && colon == text.rfind(':') &&
      text.find('.') != std::string_view::npos && colon > text.rfind('.'))
    return text.substr(0, colon);  // "1.2.3.4:5678"
  return text;
}

bool ParseIp(std::string_view text, uint8_t out[16]) {
  text = StripPort(text);
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
          c == '.'))
      return false;  // inet_pton would stop at a NUL and accept a prefix
  if (text.empty() || text.size() > 45) return false;
  char buf[48];
  memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in_addr v4;
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &v4, 4);
    return true;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, buf, &v6) == 1) {
    memcpy(out, &v6, 16);
    return true;
  }
  return false;
}

std::string ClientKey(std::string_view ip) {
  uint8_t a[16];
  if (!ParseIp(ip, a)) return std::string(ip);
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(a, kMapped, 12) == 0) {
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, a + 12, buf, sizeof buf);
    return buf;
  }
  // One IPv6 subscriber usually has a whole /64: it counts as one client.
  memset(a + 8, 0, 8);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a, buf, sizeof buf);
  return std::string(buf) + "/64";
}

Result<CidrList> CidrList::Parse(std::string_view text) {
  CidrList list;
  while (!text.empty()) {
    size_t end = text.find_first_of(", ");
    std::string_view item = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (item.empty()) continue;
    std::string_view addr = item;
    int bits = -1;
    size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      addr = item.substr(0, slash);
      uint64_t b;
      if (!ParseUint(item.substr(slash + 1), &b))
        return Error{"\"" + std::string(item) + "\": bad prefix length"};
      if (b > 128) return Error{"\"" + std::string(item) + "\": prefix longer than the address"};
      bits = static_cast<int>(b);
    }
    Net net{};
    bool v4 = addr.find(':') == std::string_view::npos;
    if (!ParseIp(addr, net.addr) ||
        (addr.find(':') != std::string_view::npos && addr.find('.') != std::string_view::npos &&
         addr.rfind(':') > addr.rfind('.')))
      return Error{"\"" + std::string(item) + "\" is not an IP address or CIDR range"};
    int max = v4 ? 32 : 128;
    if (bits < 0) bits = max;
    if (bits > max) return Error{"\"" + std::string(item) + "\": prefix longer than the address"};
    net.bits = v4 ? bits + 96 : bits;
    list.nets_.push_back(net);
  }
  return list;
}

bool CidrList::Contains(std::string_view ip) const {
  if (nets_.empty()) return false;
  uint8_t a[16];
  if (!ParseIp(ip, a)) return false;
  for (const Net& n : nets_) {
    int full = n.bits / 8, rest = n.bits % 8;
    if (memcmp(a, n.addr, static_cast<size_t>(full)) != 0) continue;
    if (rest) {
      uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
      if ((a[full] & mask) != (n.addr[full] & mask)) continue;
    }
    return true;
  }
  return false;
}

}  // namespace hearth::guard

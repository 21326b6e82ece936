#pragma once
// CIDR lists: "10.0.0.0/8, 192.168.1.7, 2001:db8::/32". An IPv4 address also
// matches as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), which is how a
// dual-stack listener sees IPv4 peers.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hearth::guard {

class CidrList {
 public:
  // Comma- or space-separated; an address without a prefix is one host.
  static Result<CidrList> Parse(std::string_view text);
  bool empty() const { return nets_.empty(); }
  // Whether `ip` (text, as PeerIp or a forwarded-for field gives it) is in
  // the list. An unparsable address is in no list.
  bool Contains(std::string_view ip) const;

 private:
  struct Net {
    uint8_t addr[16];  // IPv6, or IPv4-mapped
    int bits;          // of the 128
  };
  std::vector<Net> nets_;
};

// Parses an IPv4 or IPv6 address into its 16-byte form (IPv4-mapped for v4).
// Accepts "[v6]" and a trailing ":port" on IPv4 ("1.2.3.4:5678"), as
// forwarded-for fields carry them.
bool ParseIp(std::string_view text, uint8_t out[16]);
// The key per-client limits count by: an IPv4 address as it is (also when
// IPv4-mapped), an IPv6 address's /64 (one subscriber's usual share).
std::string ClientKey(std::string_view ip);
// The address part of "[v6]:port", "a.b.c.d:port", or the text as it is.
std::string_view StripPort(std::string_view text);

}  // namespace hearth::guard

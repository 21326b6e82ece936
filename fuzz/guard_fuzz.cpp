// libFuzzer target for the guard's parsers: CIDR lists (settings text) and
// the client address taken from X-Forwarded-For / Forwarded fields of a
// request from a trusted proxy. No network, no files.
//
// Properties (__builtin_trap when one fails), besides ASan/UBSan:
//  * a list that parses contains each of its plain addresses;
//  * a resolved client address is either the peer or an address that parses;
//  * ParseIp of text that PeerIp-style formatting gives back is stable.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "guard/cidr.h"
#include "guard/guard.h"

namespace {

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

hearth::guard::Guard& TheGuard() {
  static hearth::guard::Guard* g = [] {
    auto* guard = new hearth::guard::Guard();
    hearth::guard::Policy p;
    p.trusted = hearth::guard::CidrList::Parse("127.0.0.0/8, ::1, 10.0.0.0/8").value();
    guard->SetPolicy(p);
    return guard;
  }();
  return *g;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto list = hearth::guard::CidrList::Parse(in);
      if (list.ok()) {
        // Each plain (prefix-less) item is in the list it came from.
        std::string_view rest = in;
        while (!rest.empty()) {
          size_t end = rest.find_first_of(", ");
          std::string_view item = rest.substr(0, end);
          rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
          if (!item.empty() && item.find('/') == std::string_view::npos)
            CHECK(list->Contains(item));
        }
      }
      break;
    }
    case 1: {
      hearth::Request req;
      req.peer_ip = "10.1.2.3";
      bool forwarded = !in.empty() && (in[0] & 1);
      req.headers.push_back(
          {forwarded ? "Forwarded" : "X-Forwarded-For", in.substr(in.empty() ? 0 : 1)});
      TheGuard().ResolveClient(req);
      std::string_view client = req.ClientIp();
      uint8_t bytes[16];
      CHECK(client == "10.1.2.3" || hearth::guard::ParseIp(client, bytes));
      break;
    }
    default: {
      uint8_t a[16], b[16];
      if (hearth::guard::ParseIp(in, a))
        CHECK(hearth::guard::ParseIp(in, b) &&
              std::string_view(reinterpret_cast<char*>(a), 16) ==
                  std::string_view(reinterpret_cast<char*>(b), 16));
      break;
    }
  }
  return 0;
}

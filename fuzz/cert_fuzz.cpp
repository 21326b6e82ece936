// libFuzzer target for certificate import (src/tls/certs.h): the input is
// "CERT_PEM\0KEY_PEM". Inspect must refuse or describe it without crashing;
// what it accepts must name hosts that IsCertHost accepts (or CN-only names
// it lower-cased), and loading it into a TlsServer must not crash either.
// The host helpers, the ClientHello extension readers (SniHost, AlpnOffers)
// and the OCSP answer check get the raw input too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tls/certs.h"
#include "tls/ocsp.h"
#include "tls/server.h"

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hearth::tls;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string_view cert = in.substr(0, nul);
  std::string_view key = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  (void)IsCertHost(cert.substr(0, 300));
  (void)HostMatches(cert.substr(0, 100), key.substr(0, 100));
  std::string sni = SniHost(data, size);
  CHECK(sni.size() <= 255 && sni.find('\0') == std::string::npos);
  (void)AlpnOffers(data, size, "acme-tls/1");
  // The raw input as an OCSP responder's answer for a fixed chain.
  static const std::string chain = [] {
    auto ca = MakeLocalCa();
    auto leaf = ca.ok() ? IssueLeaf(*ca, {"fuzz.test"}, 30) : hearth::Result<KeyPair>(ca.error());
    return leaf.ok() ? leaf->cert_pem : std::string();
  }();
  auto ocsp = CheckOcspResponse(in, chain, 1800000000);
  CHECK(ocsp.ok() ||
        (!ocsp.error().message.empty() && ocsp.error().message.find('\n') == std::string::npos));
  auto info = Inspect(cert, key);
  if (!info.ok()) {
    CHECK(!info.error().message.empty() && info.error().message.find('\n') == std::string::npos);
    return 0;
  }
  CHECK(!info->hosts.empty());
  static auto server = TlsServer::Create();
  if (server.ok()) {
    std::vector<std::string> problems;
    (*server)->Install({{1, std::string(cert), std::string(key)}}, &problems);
    for (const auto& h : info->hosts)
      if (h.rfind("*.", 0) != 0) CHECK((*server)->Covers(h) || !problems.empty());
  }
  return 0;
}

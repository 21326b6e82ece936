#pragma once
// OcspStaple: one certificate's OCSP answer as the TLS server keeps it,
// shared by the handshakes that staple it (tls/server.cpp) and the job that
// refreshes it (tls/ocsp_stapling.cpp). Private to src/tls.
#include <cstdint>
#include <mutex>
#include <string>

namespace hearth::tls {

struct OcspStaple {
  int64_t id = 0;
  std::string chain_pem, url;
  mutable std::mutex mu;
  std::string der;      // guarded by mu: the checked answer ("" none)
  int64_t expires = 0;  // guarded by mu: its nextUpdate (Unix seconds; 0: none given)
  // The OCSP thread's own: when to fetch next, and the back-off after failures.
  int64_t next_fetch_ms = 0;
  int64_t delay_ms = 0;
};
}  // namespace hearth::tls

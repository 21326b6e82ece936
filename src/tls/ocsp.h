#pragma once
// OCSP stapling: for each served certificate whose leaf names an OCSP
// responder (Authority Information Access) and whose chain holds its issuer,
// hearth fetches the responder's signed answer in the background and sends
// it in the handshake (status_request), so clients need not ask the CA
// themselves. An answer is checked before it is used (signed by the issuer
// or its delegated responder, about this certificate, "good", within its
// validity) and refreshed halfway through its validity.
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hearth::tls {

struct OcspAnswer {
  bool good = false;                         // false: revoked (an unknown status is an error)
  int64_t this_update = 0, next_update = 0;  // Unix seconds (none given: this_update plus a day)
};

// The leaf's OCSP responder URL ("" if it names none, or none over http).
std::string OcspUrl(std::string_view chain_pem);
// The DER OCSP request for the chain's leaf (its issuer the next
// certificate in the PEM). An error if either is missing.
Result<std::string> MakeOcspRequest(std::string_view chain_pem);
// Checks a DER OCSP response for the chain's leaf at `now` (Unix seconds):
// one-line errors name what is wrong.
Result<OcspAnswer> CheckOcspResponse(std::string_view der, std::string_view chain_pem, int64_t now);

// POSTs `request` to the responder `url` (10 s at most; `cancel`, when set,
// ends it early) and returns the answer's body. Blocking.
Result<std::string> FetchOcsp(const std::string& url, const std::string& request,
                              const std::atomic<bool>* cancel);

// For tests: a response for the chain's leaf signed by `issuer_key_pem`
// (the key of the chain's second certificate), valid for `seconds` (0: no
// nextUpdate at all).
Result<std::string> MakeOcspResponse(std::string_view chain_pem, std::string_view issuer_key_pem,
                                     bool good, int64_t seconds);

}  // namespace hearth::tls

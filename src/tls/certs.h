#pragma once
// Certificates as hearth stores them: PEM text (the leaf first, then its
// chain) and a PEM private key, checked and described with OpenSSL, and made
// with OpenSSL's API (never a shell-out): self-signed certificates, a local
// development CA and the leaves it signs.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hearth::tls {

struct CertInfo {
  std::vector<std::string> hosts;  // the leaf's DNS and IP subject alternative names (lower case)
  std::string subject, issuer;     // one-line forms ("CN=example.com")
  int64_t not_before = 0, not_after = 0;  // Unix seconds
  bool self_signed = false;
  bool is_ca = false;
};

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

// Checks a certificate chain and its key: the PEM parses, the key is the
// leaf's, the leaf names at least one host. One-line errors name the problem
// ("the key does not match the certificate"). Expiry is reported in the info,
// not refused.
Result<CertInfo> Inspect(std::string_view cert_pem, std::string_view key_pem);

// A new ECDSA P-256 key and a self-signed certificate for `hosts` (DNS names,
// "*.example.com" wildcards or IP addresses), valid `days` from now.
Result<KeyPair> MakeSelfSigned(const std::vector<std::string>& hosts, int days);

// The self-signed certificate that answers an ACME TLS-ALPN-01 challenge for
// `host` (RFC 8737): its only name is `host`, and its critical acmeIdentifier
// extension holds the SHA-256 of `key_authorization`.
Result<KeyPair> MakeAlpnChallenge(std::string_view host, std::string_view key_authorization);

// A new local certificate authority (ECDSA P-256, 10 years), for development
// hosts: its leaves are trusted wherever the CA is.
Result<KeyPair> MakeLocalCa();
// A leaf for `hosts` signed by `ca` (ECDSA P-256, `days`); its PEM carries
// the leaf then the CA.
Result<KeyPair> IssueLeaf(const KeyPair& ca, const std::vector<std::string>& hosts, int days);

// Whether `host` is a name a certificate can be made for: a DNS name
// (letters, digits, '-', dots; a leading "*." wildcard) or an IP address.
bool IsCertHost(std::string_view host);
// Whether a certificate naming `pattern` ("a.example.com", "*.example.com")
// covers `host` (one label for a wildcard; case-insensitive).
bool HostMatches(std::string_view pattern, std::string_view host);

}  // namespace hearth::tls

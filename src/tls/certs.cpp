#include "tls/certs.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include "base/strings.h"
#include "tls/openssl_ptr.h"

namespace hearth::tls {
namespace {

// OpenSSL's reason for the last failure, for a one-line message.
std::string SslReason() {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (!e) return "unknown error";
  const char* r = ERR_reason_error_string(e);
  return r ? r : "unknown error";
}

bool IsIp(std::string_view host) {
  std::string h(host);
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

std::string NameLine(const X509_NAME* name) {
  Ptr<BIO> b(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(
      b.get(), name, 0,
      (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB & ~XN_FLAG_SPC_EQ) | ASN1_STRFLGS_UTF8_CONVERT);
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n > 0 ? n : 0));
}

int64_t TimeOf(const ASN1_TIME* t) {
  tm parts{};
  if (ASN1_TIME_to_tm(t, &parts) != 1) return 0;
  return static_cast<int64_t>(timegm(&parts));
}

std::string Lower(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(AsciiLower(c));
  return out;
}

std::vector<std::string> HostsOf(X509* cert) {
  std::vector<std::string> hosts;
  Ptr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(names.get(), i);
      if (g->type == GEN_DNS) {
        const ASN1_STRING* s = g->d.dNSName;
        hosts.push_back(
            Lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                   static_cast<size_t>(ASN1_STRING_length(s)))));
      } else if (g->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = g->d.iPAddress;
        char text[INET6_ADDRSTRLEN] = "";
        int len = ASN1_STRING_length(s);
        if (len == 4 || len == 16)
          inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text, sizeof text);
        if (text[0]) hosts.push_back(text);
      }
    }
  }
  if (hosts.empty()) {
    // An old-style certificate: its common name.
    X509_NAME* subject = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx >= 0) {
      const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
      std::string cn(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
      if (IsCertHost(cn)) hosts.push_back(Lower(cn));
    }
  }
  return hosts;
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ptr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return Error{"cannot add a certificate extension: " + SslReason()};
  return OkStatus();
}

std::string PemOf(X509* cert) {
  Ptr<BIO> b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string PemOf(EVP_PKEY* key) {
  Ptr<BIO> b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

// A certificate for `key`, signed by `signer` (issued by `issuer`, or itself).
// `acme_digest` (32 bytes, when given): the critical acmeIdentifier extension
// of a TLS-ALPN-01 answer (RFC 8737).
Result<Ptr<X509>> Build(EVP_PKEY* key, const std::vector<std::string>& hosts, const std::string& cn,
                        int days, bool ca, X509* issuer, EVP_PKEY* signer,
                        std::string_view acme_digest = {}) {
  Ptr<X509> cert(X509_new());
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  // A little in the past, so a client whose clock is slightly behind accepts it.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("hearth"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer ? issuer : cert.get();
  Status st = AddExt(cert.get(), iss, NID_basic_constraints,
                     ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE");
  if (st.ok())
    st = AddExt(cert.get(), iss, NID_key_usage,
                ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  if (st.ok()) st = AddExt(cert.get(), iss, NID_subject_key_identifier, "hash");
  if (st.ok() && issuer) st = AddExt(cert.get(), iss, NID_authority_key_identifier, "keyid:always");
  if (st.ok() && !ca) {
    st = AddExt(cert.get(), iss, NID_ext_key_usage, "serverAuth");
    std::string san;
    for (const auto& h : hosts)
      san += (san.empty() ? "" : ",") + std::string(IsIp(h) ? "IP:" : "DNS:") + h;
    if (st.ok()) st = AddExt(cert.get(), iss, NID_subject_alt_name, san);
  }
  if (st.ok() && !acme_digest.empty()) {
    // id-pe-acmeIdentifier; its value is the DER of an OCTET STRING holding
    // the SHA-256 of the key authorization.
    std::string der = {'\x04', static_cast<char>(acme_digest.size())};
    der.append(acme_digest);
    Ptr<ASN1_OBJECT> oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
    Ptr<ASN1_OCTET_STRING> value(ASN1_OCTET_STRING_new());
    bool ok = oid && value &&
              ASN1_OCTET_STRING_set(value.get(), reinterpret_cast<const unsigned char*>(der.data()),
                                    static_cast<int>(der.size())) == 1;
    Ptr<X509_EXTENSION> ext(ok ? X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 1, value.get())
                               : nullptr);
    if (!ext || X509_add_ext(cert.get(), ext.get(), -1) != 1)
      st = Error{"cannot add the acmeIdentifier extension: " + SslReason()};
  }
  if (!st.ok()) return st.error();
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0)
    return Error{"cannot sign the certificate: " + SslReason()};
  return cert;
}

Status CheckHosts(const std::vector<std::string>& hosts) {
  if (hosts.empty()) return Error{"a certificate needs at least one host"};
  if (hosts.size() > 100) return Error{"at most 100 hosts per certificate"};
  for (const auto& h : hosts)
    if (!IsCertHost(h)) return Error{"\"" + h + "\" is not a host name or IP address"};
  return OkStatus();
}

}  // namespace

bool IsCertHost(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  if (IsIp(host)) return true;
  std::string_view rest = host;
  if (rest.substr(0, 2) == "*.") rest.remove_prefix(2);
  if (rest.empty()) return false;
  size_t label = 0;
  for (size_t i = 0; i < rest.size(); ++i) {
    char c = rest[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

bool HostMatches(std::string_view pattern, std::string_view host) {
  if (EqualsIgnoreCase(pattern, host)) return true;
  if (pattern.substr(0, 2) != "*.") return false;
  size_t dot = host.find('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  return EqualsIgnoreCase(pattern.substr(1), host.substr(dot));
}

Result<CertInfo> Inspect(std::string_view cert_pem, std::string_view key_pem) {
  ERR_clear_error();
  Ptr<BIO> cb(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  Ptr<X509> leaf(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!leaf) return Error{"the certificate is not a PEM certificate (" + SslReason() + ")"};
  // The rest of the chain must parse too.
  while (true) {
    Ptr<X509> next(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    if (!next) {
      unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        break;
      }
      return Error{"a certificate in the chain does not parse (" + SslReason() + ")"};
    }
  }
  Ptr<BIO> kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  // No passphrase callback: an encrypted key is refused rather than prompted for.
  Ptr<EVP_PKEY> key(PEM_read_bio_PrivateKey(
      kb.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (!key) return Error{"the key is not an unencrypted PEM private key (" + SslReason() + ")"};
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    return Error{"the key does not match the certificate"};
  }
  CertInfo info;
  info.hosts = HostsOf(leaf.get());
  if (info.hosts.empty())
    return Error{"the certificate names no host (no subject alternative names)"};
  info.subject = NameLine(X509_get_subject_name(leaf.get()));
  info.issuer = NameLine(X509_get_issuer_name(leaf.get()));
  info.not_before = TimeOf(X509_get0_notBefore(leaf.get()));
  info.not_after = TimeOf(X509_get0_notAfter(leaf.get()));
  // Its own issuer, signed by its own key (X509_check_issued would also ask
  // for keyCertSign, which a self-signed leaf does not have).
  info.self_signed =
      X509_NAME_cmp(X509_get_subject_name(leaf.get()), X509_get_issuer_name(leaf.get())) == 0 &&
      X509_verify(leaf.get(), X509_get0_pubkey(leaf.get())) == 1;
  ERR_clear_error();
  info.is_ca = X509_check_ca(leaf.get()) > 0;
  return info;
}

Result<KeyPair> MakeSelfSigned(const std::vector<std::string>& hosts, int days) {
  if (Status st = CheckHosts(hosts); !st.ok()) return st.error();
  Ptr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return Error{"cannot make a key: " + SslReason()};
  auto cert = Build(key.get(), hosts, hosts[0], days, false, nullptr, key.get());
  if (!cert.ok()) return cert.error();
  return KeyPair{PemOf(cert->get()), PemOf(key.get())};
}

Result<KeyPair> MakeAlpnChallenge(std::string_view host, std::string_view key_authorization) {
  std::string h(host);
  if (!IsCertHost(h) || IsIp(h) || h.find('*') != std::string::npos)
    return Error{"\"" + h + "\" is not a DNS name"};
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key_authorization.data()), key_authorization.size(),
         md);
  Ptr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return Error{"cannot make a key: " + SslReason()};
  auto cert = Build(key.get(), {h}, h, 7, false, nullptr, key.get(),
                    std::string_view(reinterpret_cast<const char*>(md), sizeof md));
  if (!cert.ok()) return cert.error();
  return KeyPair{PemOf(cert->get()), PemOf(key.get())};
}

Result<KeyPair> MakeLocalCa() {
  Ptr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return Error{"cannot make a key: " + SslReason()};
  auto cert = Build(key.get(), {}, "hearth local CA", 3650, true, nullptr, key.get());
  if (!cert.ok()) return cert.error();
  return KeyPair{PemOf(cert->get()), PemOf(key.get())};
}

Result<KeyPair> IssueLeaf(const KeyPair& ca, const std::vector<std::string>& hosts, int days) {
  if (Status st = CheckHosts(hosts); !st.ok()) return st.error();
  Ptr<BIO> cb(BIO_new_mem_buf(ca.cert_pem.data(), static_cast<int>(ca.cert_pem.size())));
  Ptr<X509> ca_cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  Ptr<BIO> kb(BIO_new_mem_buf(ca.key_pem.data(), static_cast<int>(ca.key_pem.size())));
  Ptr<EVP_PKEY> ca_key(PEM_read_bio_PrivateKey(
      kb.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (!ca_cert || !ca_key) return Error{"the local CA does not parse: " + SslReason()};
  Ptr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return Error{"cannot make a key: " + SslReason()};
  auto cert = Build(key.get(), hosts, hosts[0], days, false, ca_cert.get(), ca_key.get());
  if (!cert.ok()) return cert.error();
  return KeyPair{PemOf(cert->get()) + PemOf(ca_cert.get()), PemOf(key.get())};
}

}  // namespace hearth::tls

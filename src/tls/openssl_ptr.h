#pragma once
// Owning pointers for OpenSSL objects: Ptr<X509> frees with X509_free, and
// so on for each type listed here (one deleter, so a new type is one line).
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace hearth::tls {

struct SslFree {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(ASN1_OBJECT* p) const { ASN1_OBJECT_free(p); }
  void operator()(ASN1_STRING* p) const { ASN1_STRING_free(p); }
  void operator()(OCSP_CERTID* p) const { OCSP_CERTID_free(p); }
  void operator()(OCSP_REQUEST* p) const { OCSP_REQUEST_free(p); }
  void operator()(OCSP_RESPONSE* p) const { OCSP_RESPONSE_free(p); }
  void operator()(OCSP_BASICRESP* p) const { OCSP_BASICRESP_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
  void operator()(STACK_OF(OPENSSL_STRING) * p) const { X509_email_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, SslFree>;

}  // namespace hearth::tls

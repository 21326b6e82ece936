#include "tls/ocsp.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "io/curl_lib.h"
#include "tls/openssl_ptr.h"

namespace hearth::tls {
namespace {

// The leaf and its issuer (the first two certificates of the PEM).
struct Pair {
  Ptr<X509> leaf, issuer;
};

Pair Parse(std::string_view chain_pem) {
  Pair p;
  Ptr<BIO> b(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
  if (!b) return p;
  p.leaf.reset(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (p.leaf) p.issuer.reset(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return p;
}

int64_t TimeOf(const ASN1_GENERALIZEDTIME* t) {
  if (!t) return 0;
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

std::string OcspUrl(std::string_view chain_pem) {
  Pair p = Parse(chain_pem);
  if (!p.leaf) return "";
  Ptr<STACK_OF(OPENSSL_STRING)> urls(X509_get1_ocsp(p.leaf.get()));
  if (!urls) return "";
  for (int i = 0; i < sk_OPENSSL_STRING_num(urls.get()); ++i) {
    std::string u = sk_OPENSSL_STRING_value(urls.get(), i);
    if (u.rfind("http://", 0) == 0 || u.rfind("https://", 0) == 0) return u;
  }
  return "";
}

Result<std::string> MakeOcspRequest(std::string_view chain_pem) {
  Pair p = Parse(chain_pem);
  if (!p.leaf || !p.issuer) return Error{"OCSP: the chain has no issuer certificate"};
  OCSP_CERTID* id = OCSP_cert_to_id(nullptr, p.leaf.get(), p.issuer.get());
  Ptr<OCSP_REQUEST> req(OCSP_REQUEST_new());
  if (!id || !req || !OCSP_request_add0_id(req.get(), id)) {
    OCSP_CERTID_free(id);
    ERR_clear_error();
    return Error{"OCSP: cannot make the request"};
  }
  unsigned char* der = nullptr;
  int n = i2d_OCSP_REQUEST(req.get(), &der);
  if (n <= 0) return Error{"OCSP: cannot encode the request"};
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

Result<OcspAnswer> CheckOcspResponse(std::string_view der, std::string_view chain_pem,
                                     int64_t now) {
  Pair p = Parse(chain_pem);
  if (!p.leaf || !p.issuer) return Error{"OCSP: the chain has no issuer certificate"};
  const unsigned char* in = reinterpret_cast<const unsigned char*>(der.data());
  Ptr<OCSP_RESPONSE> resp(d2i_OCSP_RESPONSE(nullptr, &in, static_cast<long>(der.size())));
  if (!resp || in != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    ERR_clear_error();
    return Error{"OCSP: the answer is not an OCSP response"};
  }
  int status = OCSP_response_status(resp.get());
  if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    return Error{std::string("OCSP: the responder answered ") + OCSP_response_status_str(status)};
  Ptr<OCSP_BASICRESP> basic(OCSP_response_get1_basic(resp.get()));
  if (!basic) {
    ERR_clear_error();
    return Error{"OCSP: the answer has no basic response"};
  }
  // Signed by the issuer itself, or by a responder the issuer delegated to
  // (its certificate inside the answer): the issuer is the only trust.
  Ptr<X509_STORE> store(X509_STORE_new());
  Ptr<STACK_OF(X509)> certs(sk_X509_new_null());
  if (!store || !certs || X509_STORE_add_cert(store.get(), p.issuer.get()) != 1 ||
      !sk_X509_push(certs.get(), X509_dup(p.issuer.get())))
    return Error{"OCSP: out of memory"};
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  if (OCSP_basic_verify(basic.get(), certs.get(), store.get(), OCSP_TRUSTOTHER) <= 0) {
    ERR_clear_error();
    return Error{"OCSP: the answer's signature does not check out against the issuer"};
  }
  Ptr<OCSP_CERTID> id(OCSP_cert_to_id(nullptr, p.leaf.get(), p.issuer.get()));
  int cert_status = -1, reason = 0;
  ASN1_GENERALIZEDTIME *revoked = nullptr, *this_update = nullptr, *next_update = nullptr;
  if (!id || OCSP_resp_find_status(basic.get(), id.get(), &cert_status, &reason, &revoked,
                                   &this_update, &next_update) != 1)
    return Error{"OCSP: the answer is not about this certificate"};
  // Five minutes of slack for clocks. An answer with no nextUpdate ("newer
  // information is always available") is held good for a day at most.
  int64_t until = next_update ? TimeOf(next_update) : TimeOf(this_update) + 86400;
  if (!this_update || TimeOf(this_update) > now + 300 || until < now - 300) {
    ERR_clear_error();
    return Error{"OCSP: the answer is outside its validity"};
  }
  if (cert_status != V_OCSP_CERTSTATUS_GOOD && cert_status != V_OCSP_CERTSTATUS_REVOKED)
    return Error{"OCSP: the responder does not know this certificate"};
  OcspAnswer a;
  a.good = cert_status == V_OCSP_CERTSTATUS_GOOD;
  a.this_update = TimeOf(this_update);
  a.next_update = until;
  return a;
}

Result<std::string> FetchOcsp(const std::string& url, const std::string& request,
                              const std::atomic<bool>* cancel) {
  OutboundRequest r;
  r.method = "POST";
  r.url = url;
  r.body = request;
  r.headers.push_back("Content-Type: application/ocsp-request");
  r.timeout_ms = 10000;
  r.max_body = 64 * 1024;  // no OCSP answer is this big
  r.cancel = cancel;
  auto got = Outbound(r);
  if (!got.ok()) return Error{"OCSP: " + got.error().message};
  if (got->status != 200)
    return Error{"OCSP: " + url + " answered HTTP " + std::to_string(got->status)};
  return std::move(got->body);
}

Result<std::string> MakeOcspResponse(std::string_view chain_pem, std::string_view issuer_key_pem,
                                     bool good, int64_t seconds) {
  Pair p = Parse(chain_pem);
  if (!p.leaf || !p.issuer) return Error{"OCSP: the chain has no issuer certificate"};
  Ptr<BIO> kb(BIO_new_mem_buf(issuer_key_pem.data(), static_cast<int>(issuer_key_pem.size())));
  Ptr<EVP_PKEY> key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!key) return Error{"OCSP: the issuer key does not parse"};
  OCSP_CERTID* id = OCSP_cert_to_id(nullptr, p.leaf.get(), p.issuer.get());
  Ptr<OCSP_BASICRESP> basic(OCSP_BASICRESP_new());
  Ptr<ASN1_TIME> this_update(X509_gmtime_adj(nullptr, -60));
  Ptr<ASN1_TIME> next_update(X509_gmtime_adj(nullptr, static_cast<long>(seconds)));
  Ptr<ASN1_TIME> revoked(X509_gmtime_adj(nullptr, -120));
  bool ok = id && basic &&
            OCSP_basic_add1_status(
                basic.get(), id, good ? V_OCSP_CERTSTATUS_GOOD : V_OCSP_CERTSTATUS_REVOKED,
                good ? -1 : OCSP_REVOKED_STATUS_KEYCOMPROMISE, good ? nullptr : revoked.get(),
                this_update.get(), seconds > 0 ? next_update.get() : nullptr) != nullptr &&
            OCSP_basic_sign(basic.get(), p.issuer.get(), key.get(), EVP_sha256(), nullptr, 0) == 1;
  OCSP_CERTID_free(id);
  if (!ok) {
    ERR_clear_error();
    return Error{"OCSP: cannot sign the response"};
  }
  Ptr<OCSP_RESPONSE> resp(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic.get()));
  unsigned char* der = nullptr;
  int n = resp ? i2d_OCSP_RESPONSE(resp.get(), &der) : 0;
  if (n <= 0) return Error{"OCSP: cannot encode the response"};
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

}  // namespace hearth::tls

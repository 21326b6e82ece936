#include "tls/acme.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <thread>

#include "base/json.h"
#include "base/log.h"
#include "base/strings.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "io/curl_lib.h"

namespace hearth::tls {

using nlohmann::json;

void AcmeChallenges::Put(const std::string& token, const std::string& key_authorization) {
  std::lock_guard<std::mutex> lock(mu_);
  answers_[token] = key_authorization;
}

void AcmeChallenges::Remove(const std::string& token) {
  std::lock_guard<std::mutex> lock(mu_);
  answers_.erase(token);
}

std::optional<std::string> AcmeChallenges::Get(std::string_view token) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = answers_.find(token);
  if (it == answers_.end()) return std::nullopt;
  return it->second;
}

namespace {

std::string LowerHost(std::string_view host) {
  std::string h;
  for (char c : host) h.push_back(AsciiLower(c));
  if (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

}  // namespace

void AcmeChallenges::PutAlpn(std::string_view host, KeyPair cert) {
  std::lock_guard<std::mutex> lock(mu_);
  alpn_[LowerHost(host)] = std::move(cert);
  alpn_count_.store(alpn_.size(), std::memory_order_relaxed);
}

void AcmeChallenges::RemoveAlpn(std::string_view host) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = alpn_.find(LowerHost(host)); it != alpn_.end()) alpn_.erase(it);
  alpn_count_.store(alpn_.size(), std::memory_order_relaxed);
}

std::optional<KeyPair> AcmeChallenges::GetAlpn(std::string_view host) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = alpn_.find(LowerHost(host));
  if (it == alpn_.end()) return std::nullopt;
  return it->second;
}

namespace {

EVP_PKEY* Key(void* k) {
  return static_cast<EVP_PKEY*>(k);
}

std::string SslReason() {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  const char* r = e ? ERR_reason_error_string(e) : nullptr;
  return r ? r : "unknown error";
}

std::string Coordinate(EVP_PKEY* key, const char* which) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, which, &bn);
  std::string out(32, '\0');
  if (bn) BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_free(bn);
  return out;
}

// The CA's error document, as one line ("urn:...:badNonce: detail").
std::string Problem(const std::string& body, long status) {
  json p = ParseJson(body).value_or(json());
  if (p.is_object() && p["type"].is_string())
    return p["type"].get<std::string>() +
           (p["detail"].is_string() ? ": " + p["detail"].get<std::string>() : "");
  return "HTTP " + std::to_string(status);
}

}  // namespace

bool AcmeClient::Cancelled() const {
  return options_.cancel && options_.cancel->load();
}

Result<bool> AskApproves(const std::string& ask_url, std::string_view host,
                         const std::atomic<bool>* cancel) {
  // A host name needs no escaping beyond what IsCertHost allows; refuse the rest.
  if (!IsCertHost(host)) return false;
  OutboundRequest r;
  r.url = ask_url + (ask_url.find('?') == std::string::npos ? "?domain=" : "&domain=") +
          std::string(host);
  r.timeout_ms = 5000;
  r.max_body = 64 * 1024;  // only the status counts
  r.cancel = cancel;
  auto got = Outbound(r);
  if (!got.ok()) return got.error();
  return got->status >= 200 && got->status < 300;
}

Result<std::unique_ptr<AcmeClient>> AcmeClient::Create(AcmeOptions options,
                                                       AcmeChallenges* challenges,
                                                       const std::string& account_key_pem) {
  std::unique_ptr<AcmeClient> c(new AcmeClient());
  c->options_ = std::move(options);
  c->challenges_ = challenges;
  EVP_PKEY* key = nullptr;
  if (account_key_pem.empty()) {
    key = EVP_EC_gen("P-256");
  } else {
    BIO* b = BIO_new_mem_buf(account_key_pem.data(), static_cast<int>(account_key_pem.size()));
    key = PEM_read_bio_PrivateKey(
        b, nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
    BIO_free(b);
  }
  if (!key) return Error{"ACME account key: " + SslReason()};
  c->key_ = key;
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(out, &data);
  c->account_key_pem_.assign(data, static_cast<size_t>(n));
  BIO_free(out);
  return c;
}

AcmeClient::~AcmeClient() {
  EVP_PKEY_free(Key(key_));
}

std::string AcmeClient::Jwk() const {
  // Members in lexicographic order, no spaces: also the thumbprint's input (RFC 7638).
  return "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" +
         crypto::Base64UrlEncode(Coordinate(Key(key_), OSSL_PKEY_PARAM_EC_PUB_X)) + "\",\"y\":\"" +
         crypto::Base64UrlEncode(Coordinate(Key(key_), OSSL_PKEY_PARAM_EC_PUB_Y)) + "\"}";
}

std::string AcmeClient::Thumbprint() const {
  return crypto::Base64UrlEncode(crypto::Sha256Digest(Jwk()));
}

Result<AcmeClient::Http> AcmeClient::Fetch(const std::string& method, const std::string& url,
                                           const std::string& body, const char* content_type,
                                           const char* accept) {
  OutboundRequest r;
  r.method = method;
  r.url = url;
  r.body = body;
  if (content_type) r.headers.push_back(std::string("Content-Type: ") + content_type);
  if (accept) r.headers.push_back(std::string("Accept: ") + accept);
  r.timeout_ms = 30000;
  r.max_body = 1 << 20;        // a certificate chain is a few KiB
  r.cancel = options_.cancel;  // a stopping server does not wait for the CA
  r.ca_file = options_.ca_root;
  auto got = Outbound(r);
  if (!got.ok()) return Error{"ACME: " + got.error().message};
  Http out;
  out.status = got->status;
  out.body = std::move(got->body);
  for (const auto& [n, v] : got->headers) {
    if (n == "replay-nonce")
      out.nonce = v;
    else if (n == "location")
      out.location = v;
    else if (n == "content-type")
      out.content_type = v;
  }
  if (!out.nonce.empty()) nonce_ = out.nonce;
  return out;
}

Status AcmeClient::LoadDirectory() {
  if (!directory_.is_null()) return OkStatus();
  auto r = Fetch("GET", options_.directory, "", nullptr);
  if (!r.ok()) return r.error();
  json d = ParseJson(r->body).value_or(json());
  if (r->status != 200 || !d.is_object() || !d.value("newNonce", json()).is_string() ||
      !d.value("newAccount", json()).is_string() || !d.value("newOrder", json()).is_string())
    return Error{"ACME: " + options_.directory + " is not an ACME directory (HTTP " +
                 std::to_string(r->status) + ")"};
  directory_ = d;
  return OkStatus();
}

Result<std::string> AcmeClient::NewNonce() {
  if (!nonce_.empty()) {
    std::string n = std::move(nonce_);
    nonce_.clear();
    return n;
  }
  auto r = Fetch("HEAD", directory_["newNonce"].get<std::string>(), "", nullptr);
  if (!r.ok()) return r.error();
  if (nonce_.empty()) return Error{"ACME: the CA gave no nonce"};
  std::string n = std::move(nonce_);
  nonce_.clear();
  return n;
}

Result<AcmeClient::Http> AcmeClient::Post(const std::string& url, const std::string& payload,
                                          const char* accept) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto nonce = NewNonce();
    if (!nonce.ok()) return nonce.error();
    json header = {{"alg", "ES256"}, {"nonce", *nonce}, {"url", url}};
    if (kid_.empty())
      header["jwk"] = ParseJson(Jwk()).value_or(json());
    else
      header["kid"] = kid_;
    std::string protected64 = crypto::Base64UrlEncode(header.dump());
    std::string payload64 = crypto::Base64UrlEncode(payload);
    std::string input = protected64 + "." + payload64;
    // ES256: ECDSA over SHA-256, the signature as R || S (32 bytes each), not DER.
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    size_t der_len = 0;
    std::string der(128, '\0');
    bool ok =
        EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, Key(key_)) == 1 &&
        EVP_DigestSign(md, nullptr, &der_len, reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1 &&
        der_len <= der.size() &&
        EVP_DigestSign(md, reinterpret_cast<unsigned char*>(der.data()), &der_len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) return Error{"ACME: cannot sign: " + SslReason()};
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
    if (!sig) return Error{"ACME: cannot sign"};
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(sig);
    json jws = {{"protected", protected64},
                {"payload", payload64},
                {"signature", crypto::Base64UrlEncode(raw)}};
    auto r = Fetch("POST", url, jws.dump(), "application/jose+json", accept);
    if (!r.ok()) return r.error();
    if (r->status == 400 && Problem(r->body, r->status).find("badNonce") != std::string::npos)
      continue;
    return r;
  }
  return Error{"ACME: the CA kept refusing our nonces"};
}

Result<json> AcmeClient::PostJson(const std::string& url, const std::string& payload,
                                  std::string* location) {
  auto r = Post(url, payload);
  if (!r.ok()) return r.error();
  if (r->status >= 400) return Error{"ACME: " + Problem(r->body, r->status)};
  if (location) *location = r->location;
  auto j = ParseJson(r->body);
  if (!j.ok()) return Error{"ACME: the CA answered " + url + " with something that is not JSON"};
  return std::move(j).value();
}

Status AcmeClient::EnsureAccount() {
  if (Status st = LoadDirectory(); !st.ok()) return st;
  if (!kid_.empty()) return OkStatus();
  json req = {{"termsOfServiceAgreed", true}};
  if (!options_.email.empty()) req["contact"] = json::array({"mailto:" + options_.email});
  std::string location;
  auto r = PostJson(directory_["newAccount"].get<std::string>(), req.dump(), &location);
  if (!r.ok()) return r.error();
  if (location.empty()) return Error{"ACME: the CA gave the account no URL"};
  kid_ = location;
  return OkStatus();
}

Result<KeyPair> AcmeClient::Obtain(const std::vector<std::string>& hosts,
                                   const std::vector<std::string>& challenges) {
  if (hosts.empty()) return Error{"ACME: no hosts"};
  if (Status st = EnsureAccount(); !st.ok()) return st.error();
  json ids = json::array();
  for (const auto& h : hosts) ids.push_back({{"type", "dns"}, {"value", h}});
  std::string order_url;
  auto order = PostJson(directory_["newOrder"].get<std::string>(),
                        json{{"identifiers", ids}}.dump(), &order_url);
  if (!order.ok()) return order.error();
  if (!order->is_object() || !order->value("authorizations", json()).is_array() ||
      !order->value("finalize", json()).is_string())
    return Error{"ACME: the order has no authorizations or finalize URL"};
  // Answer every authorization with the first challenge type we may use
  // that the CA offers.
  const std::vector<std::string>& types = challenges.empty() ? options_.challenges : challenges;
  std::string thumb = Thumbprint();
  std::vector<std::string> tokens, alpn_hosts;
  auto forget = [&] {
    for (const auto& t : tokens) challenges_->Remove(t);
    for (const auto& h : alpn_hosts) challenges_->RemoveAlpn(h);
  };
  std::vector<std::string> authz_urls;
  for (const auto& a : (*order)["authorizations"]) {
    if (!a.is_string()) continue;
    auto authz = PostJson(a.get<std::string>(), "");
    if (!authz.ok()) return forget(), authz.error();
    if (!authz->is_object()) return forget(), Error{"ACME: an authorization is not a JSON object"};
    if (authz->value("status", json()) == "valid") continue;
    json ident = authz->value("identifier", json::object());
    std::string host = ident.is_object() && ident.value("value", json()).is_string()
                           ? ident["value"].get<std::string>()
                           : "";
    std::string type, token, url;
    for (const auto& want : types) {
      for (const auto& ch : authz->value("challenges", json::array()))
        if (ch.is_object() && ch.value("type", json()) == want &&
            ch.value("token", json()).is_string() && ch.value("url", json()).is_string()) {
          type = want;
          token = ch["token"].get<std::string>();
          url = ch["url"].get<std::string>();
        }
      if (!type.empty()) break;
    }
    if (type.empty()) {
      std::string names;
      for (const auto& t : types) names += (names.empty() ? "" : " or ") + t;
      return forget(), Error{"ACME: the CA offers no " + names + " challenge"};
    }
    std::string key_authorization = token + "." + thumb;
    if (type == kTlsAlpn01) {
      auto cert = MakeAlpnChallenge(host, key_authorization);
      if (!cert.ok()) return forget(), Error{"ACME: " + cert.error().message};
      challenges_->PutAlpn(host, std::move(cert).value());
      alpn_hosts.push_back(host);
    } else {
      challenges_->Put(token, key_authorization);
      tokens.push_back(token);
    }
    auto answered = PostJson(url, "{}");
    if (!answered.ok()) return forget(), answered.error();
    authz_urls.push_back(a.get<std::string>());
  }
  for (const auto& u : authz_urls) {
    for (int i = 0;; ++i) {
      auto authz = PostJson(u, "");
      if (!authz.ok()) return forget(), authz.error();
      json st = authz->is_object() ? authz->value("status", json()) : json();
      std::string status = st.is_string() ? st.get<std::string>() : "";
      if (status == "valid") break;
      if (status != "pending" && status != "processing") {
        std::string why =
            "authorization " + (status.empty() ? std::string("without a status") : status);
        for (const auto& ch : authz->value("challenges", json::array()))
          if (ch.is_object() && ch.value("error", json()).is_object())
            why += ": " + Problem(ch["error"].dump(), 0);
        return forget(), Error{"ACME: " + why};
      }
      if (Cancelled()) return forget(), Error{"ACME: stopped"};
      if (i >= options_.poll_seconds)
        return forget(), Error{"ACME: the authorization stayed pending"};
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  forget();
  // A new key and a CSR naming every host.
  EVP_PKEY* cert_key = EVP_EC_gen("P-256");
  if (!cert_key) return Error{"ACME: cannot make a key: " + SslReason()};
  X509_REQ* csr = X509_REQ_new();
  X509_REQ_set_version(csr, 0);
  X509_REQ_set_pubkey(csr, cert_key);
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(hosts[0].c_str()), -1, -1, 0);
  std::string san;
  for (const auto& h : hosts) san += (san.empty() ? "DNS:" : ",DNS:") + h;
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  if (ext) sk_X509_EXTENSION_push(exts, ext);
  X509_REQ_add_extensions(csr, exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_sign(csr, cert_key, EVP_sha256());
  unsigned char* der = nullptr;
  int der_len = i2d_X509_REQ(csr, &der);
  X509_REQ_free(csr);
  std::string csr_b64 = der_len > 0
                            ? crypto::Base64UrlEncode(std::string_view(
                                  reinterpret_cast<char*>(der), static_cast<size_t>(der_len)))
                            : "";
  OPENSSL_free(der);
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(kb, cert_key, nullptr, nullptr, 0, nullptr, nullptr);
  char* kdata = nullptr;
  long klen = BIO_get_mem_data(kb, &kdata);
  std::string key_pem(kdata, static_cast<size_t>(klen));
  BIO_free(kb);
  EVP_PKEY_free(cert_key);
  if (csr_b64.empty()) return Error{"ACME: cannot make the CSR"};
  auto fin = PostJson((*order)["finalize"].get<std::string>(), json{{"csr", csr_b64}}.dump());
  if (!fin.ok()) return fin.error();
  json state = fin->is_object() ? *fin : json::object();
  for (int i = 0; state.value("status", json()) != "valid"; ++i) {
    json s = state.value("status", json());
    if (s != "processing" && s != "ready" && s != "pending")
      return Error{"ACME: the order is " + s.dump()};
    if (Cancelled()) return Error{"ACME: stopped"};
    if (i >= options_.poll_seconds || order_url.empty())
      return Error{"ACME: the order stayed " + s.dump()};
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto again = PostJson(order_url, "");
    if (!again.ok()) return again.error();
    state = again->is_object() ? *again : json::object();
  }
  if (!state.value("certificate", json()).is_string())
    return Error{"ACME: the valid order has no certificate URL"};
  auto chain =
      Post(state["certificate"].get<std::string>(), "", "application/pem-certificate-chain");
  if (!chain.ok()) return chain.error();
  if (chain->status != 200)
    return Error{"ACME: downloading the certificate: " + Problem(chain->body, chain->status)};
  return KeyPair{chain->body, key_pem};
}

}  // namespace hearth::tls

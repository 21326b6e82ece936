#include "tls/server.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "base/clock.h"
#include "base/log.h"
#include "base/strings.h"
#include "tls/certs.h"
#include "tls/ocsp.h"
#include "tls/ocsp_staple.h"
#include "tls/records.h"

namespace hearth::tls {

struct TlsServer::Snapshot {
  // Each certificate's own context; shared so that a replaced snapshot frees
  // it only when no handshake still points at it (SSL_set_SSL_CTX also holds
  // a reference for an open connection).
  std::vector<std::shared_ptr<SSL_CTX>> contexts;
  std::map<std::string, SSL_CTX*, std::less<>> exact;     // "a.example.com"
  std::map<std::string, SSL_CTX*, std::less<>> wildcard;  // ".example.com" for "*.example.com"
  SSL_CTX* fallback = nullptr;  // for a client that sends no name: the newest certificate
  SSL_CTX* Find(std::string_view host) const {
    std::string h;
    for (char c : host) h.push_back(AsciiLower(c));
    if (!h.empty() && h.back() == '.') h.pop_back();
    if (auto it = exact.find(h); it != exact.end()) return it->second;
    size_t dot = h.find('.');
    if (dot != std::string::npos && dot > 0)
      if (auto it = wildcard.find(std::string_view(h).substr(dot)); it != wildcard.end())
        return it->second;
    return nullptr;
  }
};

namespace {

constexpr const char* kCiphers12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The ALPN protocol TLS-ALPN-01 (RFC 8737) validation asks for.
constexpr std::string_view kAcmeTls = "acme-tls/1";

// Per-session marks (ex_data): the session answers an ACME challenge; the
// monotonic time (ms) until which it may wait for an on-demand certificate.
int ChallengeIndex() {
  static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
int WaitIndex() {
  static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// A certificate context's OCSP staple: a heap shared_ptr in its ex_data,
// freed with the context (a handshake may still use a context after its
// snapshot was replaced).
int StapleIndex() {
  static int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<std::shared_ptr<OcspStaple>*>(ptr);
      });
  return index;
}

// Per-certificate: when a handshake last chose it (Unix seconds), shared
// with the TlsServer's map so that it outlives a re-install.
using LastUse = std::shared_ptr<std::atomic<int64_t>>;
int UseIndex() {
  static int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<LastUse*>(ptr);
      });
  return index;
}

int SelectAcmeTls(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                  unsigned int inlen, void*) {
  for (unsigned i = 0; i < inlen;) {
    unsigned n = in[i];
    if (i + 1 + n > inlen) break;
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), n) == kAcmeTls) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  // HTTP/2 first: a client offering both gets it.
  static const unsigned char kOurs[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kOurs, sizeof kOurs, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN (HTTP/1.1)
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// The same protocol settings on every context (a session starts on the base
// one and moves to its certificate's).
bool Configure(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // Partial writes and a moving buffer: OutQueue::Peek hands the same bytes
  // back from a fresh buffer on a retry. Released buffers: an idle
  // connection keeps no 16 KiB record buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Read-ahead: one read() takes whole records (and the next ones), not a
  // 5-byte header and then its body.
  SSL_CTX_set_read_ahead(ctx, 1);
  if (SSL_CTX_set_cipher_list(ctx, kCiphers12) != 1) return false;
  if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) return false;
  SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, nullptr);
  return true;
}

std::shared_ptr<SSL_CTX> LoadContext(const CertRecord& rec, void* owner, std::string* why) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx || !Configure(ctx.get())) {
    *why = "cannot make a TLS context";
    return nullptr;
  }
  SSL_CTX_set_app_data(ctx.get(), owner);
  SSL_CTX_set_session_cache_mode(ctx.get(),
                                 SSL_SESS_CACHE_OFF);  // tickets only, as on the base context
  BIO* cb = BIO_new_mem_buf(rec.cert_pem.data(), static_cast<int>(rec.cert_pem.size()));
  X509* leaf = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  bool ok = leaf && SSL_CTX_use_certificate(ctx.get(), leaf) == 1;
  X509_free(leaf);
  while (ok) {
    X509* extra = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    if (!extra) break;
    if (SSL_CTX_add0_chain_cert(ctx.get(), extra) != 1) {
      X509_free(extra);
      ok = false;
    }
  }
  BIO_free(cb);
  ERR_clear_error();
  BIO* kb = BIO_new_mem_buf(rec.key_pem.data(), static_cast<int>(rec.key_pem.size()));
  EVP_PKEY* key = ok ? PEM_read_bio_PrivateKey(
                           kb, nullptr, [](char*, int, int, void*) { return 0; }, nullptr)
                     : nullptr;
  ok = ok && key && SSL_CTX_use_PrivateKey(ctx.get(), key) == 1 &&
       SSL_CTX_check_private_key(ctx.get()) == 1;
  EVP_PKEY_free(key);
  BIO_free(kb);
  ERR_clear_error();
  if (!ok) {
    *why = "certificate " + std::to_string(rec.id) + " does not load";
    return nullptr;
  }
  return ctx;
}

}  // namespace

Result<std::unique_ptr<TlsServer>> TlsServer::Create() {
  std::unique_ptr<TlsServer> t(new TlsServer());
  t->base_ = SSL_CTX_new(TLS_server_method());
  if (!t->base_ || !Configure(t->base_)) return Error{"cannot set up TLS"};
  SSL_CTX_set_client_hello_cb(t->base_, OnClientHello, t.get());
  SSL_CTX_set_tlsext_servername_callback(t->base_, OnServerName);
  SSL_CTX_set_tlsext_servername_arg(t->base_, t.get());
  // Stateless resumption (tickets) only: no per-worker session cache to share.
  SSL_CTX_set_session_cache_mode(t->base_, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(t->base_, 1);
  SSL_CTX_set_app_data(t->base_, t.get());
  SSL_CTX_set_tlsext_ticket_key_evp_cb(t->base_, OnTicketKey);
  t->RotateTicketKeysLocked(static_cast<int64_t>(time(nullptr)));
  t->snapshot_ = std::make_shared<Snapshot>();
  return t;
}

TlsServer::~TlsServer() {
  StopOcsp();
  SSL_CTX_free(base_);
}

void TlsServer::Install(const std::vector<CertRecord>& certs, std::vector<std::string>* problems,
                        uint64_t version) {
  auto snap = std::make_shared<Snapshot>();
  std::map<int64_t, std::shared_ptr<OcspStaple>> staples;
  std::map<int64_t, std::shared_ptr<std::atomic<int64_t>>> uses;
  std::vector<const CertRecord*> order;
  for (const auto& c : certs) order.push_back(&c);
  // Oldest first, so a newer certificate for the same host replaces it.
  std::sort(order.begin(), order.end(),
            [](const CertRecord* a, const CertRecord* b) { return a->id < b->id; });
  for (const CertRecord* rec : order) {
    std::string why;
    auto ctx = LoadContext(*rec, this, &why);
    auto info = ctx ? Inspect(rec->cert_pem, rec->key_pem) : Result<CertInfo>(Error{why});
    if (!ctx || !info.ok()) {
      if (problems) problems->push_back(ctx ? info.error().message : why);
      continue;
    }
    if (std::string url = OcspUrl(rec->cert_pem); !url.empty()) {
      std::shared_ptr<OcspStaple> staple;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (auto it = staples_.find(rec->id);
            it != staples_.end() && it->second->chain_pem == rec->cert_pem)
          staple = it->second;  // the same certificate: its answer goes on
      }
      if (!staple) {
        staple = std::make_shared<OcspStaple>();
        staple->id = rec->id;
        staple->chain_pem = rec->cert_pem;
        staple->url = url;
      }
      staples[rec->id] = staple;
      SSL_CTX_set_ex_data(ctx.get(), StapleIndex(), new std::shared_ptr<OcspStaple>(staple));
      SSL_CTX_set_tlsext_status_cb(ctx.get(), OnStatus);
    }
    LastUse use;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = uses_.find(rec->id); it != uses_.end()) use = it->second;
    }
    // New here (or hearth just started): counts as used now.
    if (!use) use = std::make_shared<std::atomic<int64_t>>(static_cast<int64_t>(time(nullptr)));
    uses[rec->id] = use;
    SSL_CTX_set_ex_data(ctx.get(), UseIndex(), new LastUse(use));
    snap->contexts.push_back(ctx);
    for (const auto& h : info->hosts) {
      if (h.rfind("*.", 0) == 0)
        snap->wildcard[h.substr(1)] = ctx.get();
      else
        snap->exact[h] = ctx.get();
    }
    snap->fallback = ctx.get();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (version != 0 && version < installed_version_) return;
    if (version != 0) installed_version_ = version;
    snapshot_ = std::move(snap);
    staples_ = std::move(staples);
    uses_ = std::move(uses);
  }
  if (uint64_t job = ocsp_job_.load()) ocsp_jobs_->RunSoon(job);  // fetch for new certificates now
}

int TlsServer::OnStatus(SSL* ssl, void*) {
  auto* sp = static_cast<std::shared_ptr<OcspStaple>*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), StapleIndex()));
  if (!sp) return SSL_TLSEXT_ERR_NOACK;
  std::string der;
  {
    std::lock_guard<std::mutex> lock((*sp)->mu);
    if ((*sp)->expires == 0 || (*sp)->expires > static_cast<int64_t>(time(nullptr)))
      der = (*sp)->der;
  }
  if (der.empty()) return SSL_TLSEXT_ERR_NOACK;
  auto* buf = static_cast<unsigned char*>(OPENSSL_malloc(der.size()));
  if (!buf) return SSL_TLSEXT_ERR_NOACK;
  memcpy(buf, der.data(), der.size());
  SSL_set_tlsext_status_ocsp_resp(ssl, buf, static_cast<long>(der.size()));  // OpenSSL frees it
  return SSL_TLSEXT_ERR_OK;
}

std::shared_ptr<const TlsServer::Snapshot> TlsServer::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

namespace {

bool IsLocalHost(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  constexpr std::string_view kSuffix = ".localhost";
  return EqualsIgnoreCase(host, "localhost") ||
         (host.size() > kSuffix.size() &&
          EqualsIgnoreCase(host.substr(host.size() - kSuffix.size()), kSuffix));
}

}  // namespace

bool TlsServer::Covers(std::string_view host) const {
  if (Current()->Find(host) != nullptr) return true;
  std::lock_guard<std::mutex> lock(mu_);
  return local_ca_ && IsLocalHost(host) && IsCertHost(host);
}

void TlsServer::SetLocalCa(std::shared_ptr<const KeyPair> ca) {
  std::lock_guard<std::mutex> lock(mu_);
  local_ca_ = std::move(ca);
  local_leaves_.clear();
}

std::shared_ptr<SSL_CTX> TlsServer::LocalLeaf(std::string_view name) {
  if (!IsLocalHost(name) || !IsCertHost(name)) return nullptr;
  std::string host;
  for (char ch : name) host.push_back(AsciiLower(ch));
  if (host.back() == '.') host.pop_back();
  int64_t now = static_cast<int64_t>(time(nullptr));
  std::shared_ptr<const KeyPair> ca;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!local_ca_) return nullptr;
    auto it = local_leaves_.find(host);
    if (it != local_leaves_.end() && now - it->second.made < 3 * 86400) return it->second.ctx;
    ca = local_ca_;
  }
  // Made outside the lock: an ECDSA key and a signature, well under a millisecond.
  auto leaf = IssueLeaf(*ca, {host}, 7);
  if (!leaf.ok()) return nullptr;
  std::string why;
  auto ctx = LoadContext({0, leaf->cert_pem, leaf->key_pem}, this, &why);
  if (!ctx) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  if (local_leaves_.size() >= 1000)
    local_leaves_.clear();  // bounded: a client may send any *.localhost
  local_leaves_[host] = Leaf{ctx, now};
  return ctx;  // the caller holds it until SSL_set_SSL_CTX has taken its own reference
}

size_t TlsServer::size() const {
  return Current()->contexts.size();
}

SSL* TlsServer::NewSession(int fd) const {
  SSL* ssl = SSL_new(base_);
  if (!ssl) return nullptr;
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  WatchSocketReads(ssl);
  SSL_set_accept_state(ssl);
  return ssl;
}

std::string SniHost(const unsigned char* p, size_t len) {
  // ServerNameList: a 2-byte length, then entries of a type byte (0: a host
  // name) and a 2-byte length.
  if (len < 2 || static_cast<size_t>(p[0] << 8 | p[1]) != len - 2) return "";
  for (size_t i = 2; i + 3 <= len;) {
    unsigned type = p[i];
    size_t n = static_cast<size_t>(p[i + 1] << 8 | p[i + 2]);
    if (i + 3 + n > len) return "";
    if (type == 0) {
      if (n == 0 || n > 255) return "";
      std::string host;
      for (size_t k = 0; k < n; ++k) {
        char c = static_cast<char>(p[i + 3 + k]);
        if (c == '\0') return "";
        host.push_back(AsciiLower(c));
      }
      if (host.back() == '.') host.pop_back();
      return host;
    }
    i += 3 + n;
  }
  return "";
}

bool AlpnOffers(const unsigned char* p, size_t len, std::string_view protocol) {
  // ProtocolNameList: a 2-byte length, then names of a length byte each.
  if (len < 2 || static_cast<size_t>(p[0] << 8 | p[1]) != len - 2) return false;
  for (size_t i = 2; i < len;) {
    size_t n = p[i];
    if (n == 0 || i + 1 + n > len) return false;
    if (std::string_view(reinterpret_cast<const char*>(p + i + 1), n) == protocol) return true;
    i += 1 + n;
  }
  return false;
}

int TlsServer::OnClientHello(SSL* ssl, int* alert, void* arg) {
  auto* self = static_cast<TlsServer*>(arg);
  const unsigned char* ext = nullptr;
  size_t ext_len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &ext_len) != 1)
    return SSL_CLIENT_HELLO_SUCCESS;
  std::string host = SniHost(ext, ext_len);
  if (host.empty()) return SSL_CLIENT_HELLO_SUCCESS;  // the SNI callback deals with it
  // TLS-ALPN-01: the CA's validation asks for "acme-tls/1" and this host.
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
                                &ext_len) == 1 &&
      AlpnOffers(ext, ext_len, kAcmeTls)) {
    if (self->challenges_ && self->challenges_->HasAlpn())
      if (auto answer = self->challenges_->GetAlpn(host)) {
        if (auto ctx = self->ChallengeContext(host, *answer)) {
          SSL_set_SSL_CTX(ssl, ctx.get());  // takes its own reference
          SSL_set_ex_data(ssl, ChallengeIndex(), self);
          return SSL_CLIENT_HELLO_SUCCESS;
        }
      }
    // A validation with no answer pending here (nothing else offered): no
    // protocol we can speak, and no reason to order anything for it.
    if (!AlpnOffers(ext, ext_len, "h2") && !AlpnOffers(ext, ext_len, "http/1.1")) {
      *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
      return SSL_CLIENT_HELLO_ERROR;
    }
  }
  // On demand: wait while a certificate for this name is being made.
  if (self->on_demand_ && !self->Covers(host) && IsCertHost(host)) {
    int64_t now = MonoNowMillis();
    auto until = reinterpret_cast<intptr_t>(SSL_get_ex_data(ssl, WaitIndex()));
    if (until == 0) {
      until = static_cast<intptr_t>(now + self->on_demand_wait_ms_);
      SSL_set_ex_data(ssl, WaitIndex(), reinterpret_cast<void*>(until));
    }
    if (now < until && self->on_demand_->Wanted(host)) return SSL_CLIENT_HELLO_RETRY;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

int TlsServer::OnServerName(SSL* ssl, int* alert, void* arg) {
  auto* self = static_cast<TlsServer*>(arg);
  if (SSL_get_ex_data(ssl, ChallengeIndex()) != nullptr)
    return SSL_TLSEXT_ERR_OK;  // the challenge's certificate stays
  auto snap = self->Current();
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* ctx = name ? snap->Find(name) : snap->fallback;
  std::shared_ptr<SSL_CTX> local;
  if (!ctx && name) {
    local = self->LocalLeaf(name);
    ctx = local.get();
  }
  if (!ctx) {
    // No certificate for this name: a clean alert, not someone else's certificate.
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  SSL_set_SSL_CTX(ssl, ctx);
  // Only a handshake that named the host counts as a use (a scanner that
  // sends no name must not keep the newest certificate alive).
  if (auto* use = name ? static_cast<LastUse*>(SSL_CTX_get_ex_data(ctx, UseIndex())) : nullptr)
    (*use)->store(static_cast<int64_t>(time(nullptr)), std::memory_order_relaxed);
  return SSL_TLSEXT_ERR_OK;
}

std::shared_ptr<SSL_CTX> TlsServer::ChallengeContext(const std::string& host,
                                                     const KeyPair& answer) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = challenge_ctx_.find(host);
        it != challenge_ctx_.end() && it->second.cert_pem == answer.cert_pem)
      return it->second.ctx;
  }
  std::string why;
  auto ctx = LoadContext({0, answer.cert_pem, answer.key_pem}, this, &why);
  if (!ctx) return nullptr;
  SSL_CTX_set_alpn_select_cb(ctx.get(), SelectAcmeTls, nullptr);
  std::lock_guard<std::mutex> lock(mu_);
  if (challenge_ctx_.size() >= 64) challenge_ctx_.clear();  // answers are few and short-lived
  challenge_ctx_[host] = Challenge{answer.cert_pem, ctx};
  return ctx;
}

int64_t TlsServer::LastUsed(int64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = uses_.find(id);
  return it == uses_.end() ? 0 : it->second->load(std::memory_order_relaxed);
}

}  // namespace hearth::tls

#pragma once
// TLS for the server side: the certificates being served (picked per
// handshake by SNI), the protocol settings, session tickets with rotating
// keys (ticket_keys.cpp), OCSP stapling (ocsp_stapling.cpp). A connection's
// handshake, reads and writes: tls/records.h; as a Transport: tls/transport.h.
//
// Settings: TLS 1.2 and 1.3 only; for 1.2, ECDHE with AES-GCM or
// ChaCha20-Poly1305 (forward secrecy, AEAD); no renegotiation, no
// compression; ALPN "h2" then "http/1.1". The certificates are replaced as a whole
// (Install) while connections go on: a handshake uses the set current when
// it began, an open connection keeps its own.
#include <openssl/ssl.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/scheduler.h"
#include "io/out_queue.h"
#include "tls/acme.h"
#include "tls/certs.h"
#include "tls/records.h"

namespace hearth::tls {

// Certificates made while a client waits: a handshake for a name that no
// certificate covers asks it, and waits (a bounded time) while it says so.
class OnDemandIssuer {
 public:
  virtual ~OnDemandIssuer() = default;
  // Non-blocking, any thread, `host` in lower case. True: a certificate for
  // `host` is being sought (the handshake pauses and asks again); false: none
  // will come (not allowed, or it failed), so the handshake goes on without.
  virtual bool Wanted(std::string_view host) = 0;
};

struct CertRecord {
  int64_t id = 0;
  std::string cert_pem, key_pem;
};

// One certificate's OCSP answer (see tls/ocsp.h); defined in server.cpp.
struct OcspStaple;

class TlsServer {
 public:
  static Result<std::unique_ptr<TlsServer>> Create();
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  // Serves exactly `certs` from now on; for a host several cover, the one
  // with the highest id (the newest). A certificate that does not load is
  // skipped and named in *problems. `version` (when not 0): the set as of
  // that change; a set older than the one installed is ignored, so installs
  // from different threads cannot bring back what a later change removed.
  void Install(const std::vector<CertRecord>& certs, std::vector<std::string>* problems,
               uint64_t version = 0);
  // A local CA for development hosts ("localhost", "*.localhost"): a name
  // no certificate covers gets a leaf it signs, made during the handshake
  // and kept in memory (renewed after 3 days). Null turns it off.
  void SetLocalCa(std::shared_ptr<const KeyPair> ca);
  // Whether some installed certificate (or the local CA) covers `host`.
  bool Covers(std::string_view host) const;
  // TLS-ALPN-01 answers: a handshake for a host it has an answer for, whose
  // client offers "acme-tls/1", gets that certificate and protocol (the
  // connection should be closed once the handshake is done: RFC 8737). A
  // client that offers only "acme-tls/1" for a host with no answer gets a
  // no_application_protocol alert. Null: none.
  void SetChallenges(const AcmeChallenges* challenges) { challenges_ = challenges; }
  // On-demand certificates: a handshake for a name no certificate covers
  // waits up to `wait_ms` while `issuer` says one is coming (Handshake
  // returns kPaused meanwhile). Null: such a handshake fails at once. Set
  // before any handshake.
  void SetOnDemand(OnDemandIssuer* issuer, int64_t wait_ms) {
    on_demand_ = issuer;
    on_demand_wait_ms_ = wait_ms;
  }
  int64_t on_demand_wait_ms() const { return on_demand_wait_ms_; }
  size_t size() const;

  // OCSP stapling: starts the job that fetches, checks and refreshes the
  // answers for the installed certificates that name a responder (each
  // handshake that asks gets the current one). The destructor stops it.
  // `jobs` runs it (a job named "ocsp") and must outlive this server, or
  // StopOcsp be called first.
  void StartOcsp(Scheduler* jobs);
  // Ends the refresh (a fetch in progress gives up); also done by the destructor.
  void StopOcsp();
  // When a handshake last chose the certificate with `id` (Unix seconds; its
  // install counts, so at least since hearth started), 0 if not installed.
  int64_t LastUsed(int64_t id) const;

  // A server session on a connected, non-blocking socket (null if OpenSSL fails).
  SSL* NewSession(int fd) const;

 private:
  struct Snapshot;
  TlsServer() = default;
  static int OnClientHello(SSL* ssl, int* alert, void* arg);
  static int OnServerName(SSL* ssl, int* alert, void* arg);
  static int OnStatus(SSL* ssl, void* arg);
  int64_t RefreshOcsp();
  static int OnTicketKey(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                         EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt);
  std::shared_ptr<const Snapshot> Current() const;
  // The TLS-ALPN-01 answer's context for `host` (made once per answer), or null.
  std::shared_ptr<SSL_CTX> ChallengeContext(const std::string& host, const KeyPair& answer);
  // The local CA's leaf for `host` (made if needed), or null.
  std::shared_ptr<SSL_CTX> LocalLeaf(std::string_view host);

  SSL_CTX* base_ = nullptr;  // the one every session starts on: SNI, tickets
  const AcmeChallenges* challenges_ = nullptr;
  OnDemandIssuer* on_demand_ = nullptr;
  int64_t on_demand_wait_ms_ = 0;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  uint64_t installed_version_ = 0;                          // guarded by mu_
  std::map<int64_t, std::shared_ptr<OcspStaple>> staples_;  // guarded by mu_; by certificate id
  std::map<int64_t, std::shared_ptr<std::atomic<int64_t>>> uses_;  // guarded by mu_; see LastUsed
  Scheduler* ocsp_jobs_ = nullptr;                                 // set by StartOcsp
  std::atomic<uint64_t> ocsp_job_{0};                              // the "ocsp" job (0: none)
  std::atomic<bool> ocsp_cancel_{false};
  struct Leaf {
    std::shared_ptr<SSL_CTX> ctx;
    int64_t made = 0;
  };
  struct Challenge {
    std::string cert_pem;
    std::shared_ptr<SSL_CTX> ctx;
  };
  std::map<std::string, Challenge, std::less<>> challenge_ctx_;  // guarded by mu_
  std::shared_ptr<const KeyPair> local_ca_;                      // guarded by mu_
  std::map<std::string, Leaf, std::less<>> local_leaves_;        // guarded by mu_

  // Session ticket keys: a new one every 12 hours; tickets made with the one
  // before are still accepted (and renewed), older ones are not.
  struct TicketKey {
    unsigned char name[16], aes[32], hmac[32];
    int64_t born = 0;
  };
  std::mutex ticket_mu_;
  TicketKey ticket_current_{}, ticket_previous_{};
  void RotateTicketKeysLocked(int64_t now);
};

// What the ClientHello names, read from its raw extensions (the SNI callback
// comes too late to choose a certificate that is not there yet). The host
// name in lower case ("" if none or malformed); whether the ALPN list offers
// `protocol`.
std::string SniHost(const unsigned char* ext, size_t len);
bool AlpnOffers(const unsigned char* ext, size_t len, std::string_view protocol);

}  // namespace hearth::tls

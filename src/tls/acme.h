#pragma once
// ACME (RFC 8555): automatic certificates from Let's Encrypt or any ACME CA.
//
// AcmeClient speaks the protocol for one account: JWS requests signed with
// the account's ECDSA P-256 key (ES256), a fresh nonce for each, the
// account made (or found again) with newAccount, then for each certificate
// an order, its authorizations answered by HTTP-01 (the key authorizations
// go into AcmeChallenges, which the HTTP side serves at
// /.well-known/acme-challenge/{token}), a CSR for a new key, and the chain.
// Blocking: run it off the workers.
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "tls/certs.h"

namespace hearth::tls {

constexpr const char* kLetsEncryptDirectory = "https://acme-v02.api.letsencrypt.org/directory";

// Challenge answers being given now. Any thread.
// HTTP-01: token -> key authorization, served at
// /.well-known/acme-challenge/{token}. TLS-ALPN-01: host -> the certificate
// a handshake for that host offering only "acme-tls/1" gets.
class AcmeChallenges {
 public:
  void Put(const std::string& token, const std::string& key_authorization);
  void Remove(const std::string& token);
  std::optional<std::string> Get(std::string_view token) const;

  void PutAlpn(std::string_view host, KeyPair cert);
  void RemoveAlpn(std::string_view host);
  std::optional<KeyPair> GetAlpn(std::string_view host) const;
  bool HasAlpn() const { return alpn_count_.load(std::memory_order_relaxed) > 0; }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> answers_;
  std::map<std::string, KeyPair, std::less<>> alpn_;
  std::atomic<size_t> alpn_count_{0};  // a handshake checks it without the lock
};

constexpr const char* kHttp01 = "http-01";
constexpr const char* kTlsAlpn01 = "tls-alpn-01";

struct AcmeOptions {
  std::string directory = kLetsEncryptDirectory;
  std::string email;    // the account's contact ("" for none)
  std::string ca_root;  // a PEM file the directory's HTTPS is checked against ("": the system's)
  // The challenge types hearth may answer, the preferred first: an
  // authorization is answered with the first of them the CA offers.
  std::vector<std::string> challenges = {kHttp01, kTlsAlpn01};
  int poll_seconds = 60;                      // how long an authorization or order may stay pending
  const std::atomic<bool>* cancel = nullptr;  // set: Obtain gives up at once ("ACME: stopped")
};

// Asks `ask_url` whether an on-demand certificate may be made for `host`:
// GET ask_url?domain=HOST (or &domain= when it has a query already) within
// 5 seconds; true on any 2xx, false on another status. Blocking.
Result<bool> AskApproves(const std::string& ask_url, std::string_view host,
                         const std::atomic<bool>* cancel = nullptr);

class AcmeClient {
 public:
  // `account_key_pem`: the account's key ("" makes a new one; see account_key_pem()).
  static Result<std::unique_ptr<AcmeClient>> Create(AcmeOptions options, AcmeChallenges* challenges,
                                                    const std::string& account_key_pem);
  ~AcmeClient();
  const std::string& account_key_pem() const { return account_key_pem_; }
  // A certificate (the chain, then a new key) for `hosts`: DNS names the CA
  // can reach on port 80 (HTTP-01) or 443 (TLS-ALPN-01), or wherever it is
  // told to look. `challenges` (when not empty) replaces the options' list
  // for this order.
  Result<KeyPair> Obtain(const std::vector<std::string>& hosts,
                         const std::vector<std::string>& challenges = {});

  // For tests: the JWK thumbprint of the key.
  std::string Thumbprint() const;

 private:
  struct Http {
    long status = 0;
    std::string body, location, nonce, content_type;
  };
  AcmeClient() = default;
  Result<Http> Fetch(const std::string& method, const std::string& url, const std::string& body,
                     const char* content_type, const char* accept = nullptr);
  Status LoadDirectory();
  Result<std::string> NewNonce();
  // A signed POST; `payload` "" is POST-as-GET. Retries once on badNonce.
  Result<Http> Post(const std::string& url, const std::string& payload,
                    const char* accept = nullptr);
  Result<nlohmann::json> PostJson(const std::string& url, const std::string& payload,
                                  std::string* location = nullptr);
  Status EnsureAccount();
  std::string Jwk() const;
  bool Cancelled() const;

  AcmeOptions options_;
  AcmeChallenges* challenges_ = nullptr;
  void* key_ = nullptr;  // EVP_PKEY*
  std::string account_key_pem_;
  nlohmann::json directory_;
  std::string nonce_;
  std::string kid_;  // the account's URL, once known
};

}  // namespace hearth::tls

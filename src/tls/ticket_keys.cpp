// Session tickets: keys made at random, rotated every 12 hours; a ticket made
// under the previous key is still accepted (and renewed under the current one).
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <ctime>

#include "tls/server.h"

namespace hearth::tls {
namespace {
constexpr int64_t kTicketKeySeconds = 12 * 3600;
}  // namespace

void TlsServer::RotateTicketKeysLocked(int64_t now) {
  ticket_previous_ = ticket_current_;
  RAND_bytes(ticket_current_.name, sizeof ticket_current_.name);
  RAND_bytes(ticket_current_.aes, sizeof ticket_current_.aes);
  RAND_bytes(ticket_current_.hmac, sizeof ticket_current_.hmac);
  ticket_current_.born = now;
}

int TlsServer::OnTicketKey(SSL* ssl, unsigned char key_name[16], unsigned char* iv,
                           EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
  auto* self = static_cast<TlsServer*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (!self) return -1;
  int64_t now = static_cast<int64_t>(time(nullptr));
  TicketKey key;
  int result = 1;
  {
    std::lock_guard<std::mutex> lock(self->ticket_mu_);
    if (now - self->ticket_current_.born >= kTicketKeySeconds) self->RotateTicketKeysLocked(now);
    if (encrypt) {
      key = self->ticket_current_;
    } else if (memcmp(key_name, self->ticket_current_.name, 16) == 0) {
      key = self->ticket_current_;
      // TLS 1.3 tickets are for one use (RFC 8446 C.4): a resumed session
      // gets a fresh one, or the client's next connection is a full
      // handshake. (OpenSSL sends none unless told to renew.)
      if (SSL_version(ssl) == TLS1_3_VERSION) result = 2;
    } else if (self->ticket_previous_.born != 0 &&
               memcmp(key_name, self->ticket_previous_.name, 16) == 0) {
      key = self->ticket_previous_;
      result = 2;  // accepted, and a new ticket is issued under the current key
    } else {
      return 0;  // unknown or expired: a full handshake
    }
  }
  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac, sizeof key.hmac);
  params[1] =
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0);
  params[2] = OSSL_PARAM_construct_end();
  // Fetched once: OpenSSL 3 would look the implementation up (locks, string
  // compares) on every EVP_aes_256_cbc() use.
  static EVP_CIPHER* aes = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  if (!aes) return -1;
  if (encrypt) {
    memcpy(key_name, key.name, 16);
    if (RAND_bytes(iv, 16) != 1) return -1;
    if (EVP_EncryptInit_ex(cipher, aes, nullptr, key.aes, iv) != 1) return -1;
  } else if (EVP_DecryptInit_ex(cipher, aes, nullptr, key.aes, iv) != 1) {
    return -1;
  }
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  return result;
}

}  // namespace hearth::tls

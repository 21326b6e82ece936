#pragma once
// TlsTransport: a connection's bytes as TLS records (io/transport.h), with the
// certificates a TlsServer holds (SNI, tickets, OCSP, on-demand certificates
// happen inside its handshake). The worker drives it like a plain socket.
#include <openssl/ssl.h>

#include <memory>

#include "io/transport.h"
#include "tls/server.h"

namespace hearth::tls {

class TlsTransport : public Transport {
 public:
  // A server session on the accepted, non-blocking socket `fd`; null if
  // OpenSSL fails (then `fd` is still the caller's).
  static std::unique_ptr<TlsTransport> Accept(const TlsServer& server, int fd);
  ~TlsTransport() override;

  bool Secure() const override { return true; }
  Step Handshake() override;
  std::string_view Protocol() const override;
  bool Resumed() const override { return SSL_session_reused(ssl_) == 1; }
  bool HandshakeOnly() const override;
  int64_t PausedWaitMs() const override { return server_.on_demand_wait_ms(); }
  ReadResult Read(char* buf, size_t len) override;
  OutQueue::FlushResult Flush(OutQueue& out, uint64_t* written) override;
  void Shutdown() override;

 private:
  TlsTransport(const TlsServer& server, int fd, SSL* ssl)
      : Transport(fd), server_(server), ssl_(ssl) {}
  const TlsServer& server_;
  SSL* ssl_;
  bool ready_ = false;  // handshake complete
};

}  // namespace hearth::tls

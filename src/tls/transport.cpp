#include "tls/transport.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace hearth::tls {

std::unique_ptr<TlsTransport> TlsTransport::Accept(const TlsServer& server, int fd) {
  SSL* ssl = server.NewSession(fd);
  if (!ssl) return nullptr;
  return std::unique_ptr<TlsTransport>(new TlsTransport(server, fd, ssl));
}

TlsTransport::~TlsTransport() {
  SSL_free(ssl_);  // its close_notify, if any, went out in Shutdown
}

Transport::Step TlsTransport::Handshake() {
  switch (tls::Handshake(ssl_)) {
    case IoStatus::kDone:
      ready_ = true;
      return Step::kDone;
    case IoStatus::kWant:
      return Step::kWant;
    case IoStatus::kPaused:
      return Step::kPaused;
    default:
      return Step::kError;
  }
}

std::string_view TlsTransport::Protocol() const {
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  return {reinterpret_cast<const char*>(alpn), alpn_len};
}

// A TLS-ALPN-01 validation: the handshake was all of it (RFC 8737).
bool TlsTransport::HandshakeOnly() const {
  return Protocol() == "acme-tls/1";
}

Transport::ReadResult TlsTransport::Read(char* buf, size_t len) {
  // Records, not bytes: a short read does not mean the socket is drained,
  // so only the TLS side's own "drained" (or kWant) says so.
  ReadResult r;
  size_t got = 0;
  bool drained = false;
  switch (tls::Read(ssl_, buf, len, &got, &drained)) {
    case IoStatus::kDone:
      r.kind = ReadResult::kData;
      r.n = got;
      r.drained = drained;
      break;
    case IoStatus::kWant:
      r.kind = ReadResult::kAgain;
      break;
    case IoStatus::kWantWrite:
      // No progress and no end: the next (writable) edge reads again.
      r.kind = ReadResult::kRetry;
      break;
    case IoStatus::kClosed:
      r.kind = ReadResult::kEof;
      break;
    default:
      r.kind = ReadResult::kError;
      break;
  }
  return r;
}

OutQueue::FlushResult TlsTransport::Flush(OutQueue& out, uint64_t* written) {
  return tls::Flush(ssl_, out, written);
}

void TlsTransport::Shutdown() {
  if (ready_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // close_notify: the peer knows the response is whole
    ERR_clear_error();
  }
  shutdown(fd_, SHUT_WR);
}

}  // namespace hearth::tls

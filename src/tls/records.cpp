// The non-blocking steps of one TLS connection over its socket: handshake,
// reads (knowing when the socket is drained), record writes, close.
#include "tls/records.h"

#include <openssl/err.h>

#include <cerrno>

namespace hearth::tls {
namespace {

// Whether the last socket read made inside SSL_read came back short (the
// socket is drained), on this thread: it spares the worker the extra read()
// that would only return EAGAIN (edge-triggered epoll needs "drained" to
// stop reading, and a TLS record count says nothing about the socket).
thread_local bool g_socket_drained = false;

long OnSocketRead(BIO*, int oper, const char*, size_t len, int, long, int ret, size_t* processed) {
  if (oper == (BIO_CB_READ | BIO_CB_RETURN))
    g_socket_drained = ret <= 0 || (processed && *processed < len);
  return ret;
}

}  // namespace

void WatchSocketReads(SSL* ssl) {
  BIO_set_callback_ex(SSL_get_rbio(ssl), OnSocketRead);
}

IoStatus Handshake(SSL* ssl) {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl);
  if (r == 1) return IoStatus::kDone;
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return IoStatus::kWant;
  ERR_clear_error();
  if (e == SSL_ERROR_WANT_CLIENT_HELLO_CB) return IoStatus::kPaused;
  return IoStatus::kError;
}

IoStatus Read(SSL* ssl, char* buf, size_t len, size_t* n, bool* drained) {
  *n = 0;
  if (drained) *drained = false;
  ERR_clear_error();
  g_socket_drained = false;
  int r = SSL_read(ssl, buf, static_cast<int>(len > (1u << 30) ? (1u << 30) : len));
  if (r > 0) {
    *n = static_cast<size_t>(r);
    if (drained) *drained = g_socket_drained && !SSL_has_pending(ssl);
    return IoStatus::kDone;
  }
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ) return IoStatus::kWant;
  if (e == SSL_ERROR_WANT_WRITE) return IoStatus::kWantWrite;
  ERR_clear_error();
  if (e == SSL_ERROR_ZERO_RETURN) return IoStatus::kClosed;
  // A peer that closes TCP without close_notify: an end all the same.
  if (e == SSL_ERROR_SYSCALL && errno == 0) return IoStatus::kClosed;
  return IoStatus::kError;
}

OutQueue::FlushResult Flush(SSL* ssl, OutQueue& out, uint64_t* written) {
  *written = 0;
  char buf[16384];  // one full TLS record
  while (!out.empty()) {
    size_t n = out.Peek(buf, sizeof buf);
    if (n == 0) return OutQueue::FlushResult::kError;  // a file shrank under us
    ERR_clear_error();
    int r = SSL_write(ssl, buf, static_cast<int>(n));
    if (r > 0) {
      out.Skip(static_cast<uint64_t>(r));
      *written += static_cast<uint64_t>(r);
      continue;
    }
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
      return OutQueue::FlushResult::kBlocked;
    ERR_clear_error();
    return OutQueue::FlushResult::kError;
  }
  return OutQueue::FlushResult::kDone;
}

void Close(SSL* ssl) {
  if (!ssl) return;
  if (SSL_is_init_finished(ssl)) {
    ERR_clear_error();
    SSL_shutdown(ssl);
  }
  ERR_clear_error();
  SSL_free(ssl);
}

}  // namespace hearth::tls

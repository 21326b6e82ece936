#pragma once
// Transport: the bytes of one accepted connection, whatever carries them: a
// plain socket (PlainTransport, here) or TLS records (tls::TlsTransport, in
// src/tls, which needs OpenSSL). The worker drives it without knowing which:
// a handshake (at once for a plain socket), reads, writes of an OutQueue
// (writev/sendfile, or records), and the end of our side. It owns the socket
// and closes it when destroyed.
#include <cstdint>
#include <string_view>

#include "io/out_queue.h"

namespace hearth {

class Transport {
 public:
  enum class Step {
    kDone,    // handshake complete: the connection is ready
    kWant,    // wait for the socket (any edge), then call again
    kPaused,  // waits on something else (a certificate being made): call again in a while
    kError,   // give up on the connection
  };
  struct ReadResult {
    enum Kind { kData, kAgain, kRetry, kEof, kError } kind = kError;
    size_t n = 0;          // kData: bytes read into the buffer
    bool drained = false;  // kData: nothing more is buffered or on the socket
                           // (an edge-triggered reader may wait for the next edge)
  };

  explicit Transport(int fd) : fd_(fd) {}
  virtual ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  int fd() const { return fd_; }
  virtual bool Secure() const { return false; }
  virtual Step Handshake() { return Step::kDone; }
  // After the handshake: the application protocol it chose (ALPN; "" none).
  virtual std::string_view Protocol() const { return {}; }
  // After the handshake: it resumed an earlier session.
  virtual bool Resumed() const { return false; }
  // After the handshake: the connection was only for the handshake (a
  // TLS-ALPN-01 validation) and should be closed now.
  virtual bool HandshakeOnly() const { return false; }
  // How long a kPaused handshake may wait at most (a backstop deadline).
  virtual int64_t PausedWaitMs() const { return 0; }
  // kAgain: nothing now (wait for an edge); kRetry: no progress and no end
  // (try again on the next edge of any kind).
  virtual ReadResult Read(char* buf, size_t len);
  // Sends what `out` holds; *written gets the count.
  virtual OutQueue::FlushResult Flush(OutQueue& out, uint64_t* written) {
    return out.Flush(fd_, written);
  }
  // Our last bytes are queued: tell the peer (TLS close_notify once the
  // handshake completed) and half-close the socket.
  virtual void Shutdown();

 protected:
  int fd_;
};

}  // namespace hearth

#pragma once
// The non-blocking steps of one TLS connection (an SSL* on a non-blocking
// socket): handshake, reads, record writes, close. tls::TlsTransport
// (tls/transport.h) drives a served connection with them.
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>

#include "io/out_queue.h"

namespace hearth::tls {

// The non-blocking steps of one TLS connection.
// kWant: wait for readability; kWantWrite: a read that must first write
// (wait for writability, then read again); kPaused: the handshake waits for
// a certificate being made (no socket event will say when: call Handshake
// again in a while).
enum class IoStatus { kDone, kWant, kWantWrite, kClosed, kError, kPaused };
// Drives the handshake; kDone once it is complete.
IoStatus Handshake(SSL* ssl);
// Reads plaintext into buf; *n gets the count (kDone with *n > 0), or kWant
// (no more for now), kClosed (the peer ended it), kError. *drained (if
// given): the socket had no more bytes and nothing is left buffered, so a
// reader on edge-triggered epoll may wait for the next edge.
IoStatus Read(SSL* ssl, char* buf, size_t len, size_t* n, bool* drained = nullptr);
// Sends what `out` holds through `ssl`, in records of up to 16 KiB.
OutQueue::FlushResult Flush(SSL* ssl, OutQueue& out, uint64_t* written);
// A close_notify, best effort, and the session freed.
void Close(SSL* ssl);

// Lets Read know when the socket under `ssl` is drained (set once per session).
void WatchSocketReads(SSL* ssl);

}  // namespace hearth::tls

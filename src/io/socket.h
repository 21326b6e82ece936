#pragma once
// Listening sockets and addresses.
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <string_view>

#include "base/result.h"

namespace hearth {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;
  std::string ToString() const;  // "127.0.0.1:8080", "[::1]:8080"
  int Port() const;
};

// "127.0.0.1:8080", "0.0.0.0:80", "[::1]:8443", ":8080" (all interfaces), "localhost:8080".
Result<SocketAddress> ParseListenAddress(std::string_view text);

// Checks that nobody listens on `addr` (a port 0 becomes a free port) and
// returns the address to bind. SO_REUSEPORT alone would let a second server
// share the port silently.
Result<SocketAddress> ReserveAddress(const SocketAddress& addr);

// A non-blocking listening socket with SO_REUSEADDR and SO_REUSEPORT, so each
// worker can own one and the kernel spreads connections across them.
Result<int> ListenReusePort(const SocketAddress& addr, int backlog);

// The address a bound socket actually got (port 0 resolves to a real port).
SocketAddress LocalAddress(int fd);

// The peer IP as text, without the port: "127.0.0.1", "::1".
std::string PeerIp(const sockaddr_storage& addr);

}  // namespace hearth

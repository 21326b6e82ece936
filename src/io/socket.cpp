#include "io/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "base/strings.h"

namespace hearth {

std::string PeerIp(const sockaddr_storage& addr) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

int SocketAddress::Port() const {
  if (storage.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (storage.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

std::string SocketAddress::ToString() const {
  std::string ip = PeerIp(storage);
  if (storage.ss_family == AF_INET6) ip = "[" + ip + "]";
  return ip + ":" + std::to_string(Port());
}

Result<SocketAddress> ParseListenAddress(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return Error{"invalid address \"" + std::string(text) + "\" (expected [IPv6]:PORT)"};
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return Error{"invalid address \"" + std::string(text) + "\" (expected HOST:PORT)"};
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  uint64_t p;
  if (!ParseUint(port, &p) || p > 65535)
    return Error{"invalid port in address \"" + std::string(text) + "\""};
  SocketAddress out;
  std::string h(host);
  if (h.empty() || h == "*") h = "0.0.0.0";
  if (h == "localhost") h = "127.0.0.1";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(p));
    out.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(p));
    out.len = sizeof(sockaddr_in6);
  } else {
    return Error{"invalid host in address \"" + std::string(text) + "\" (use an IP address)"};
  }
  return out;
}

namespace {
// A bound TCP socket (SO_REUSEADDR, v6-only for IPv6), or an error naming the address.
Result<int> BoundSocket(const SocketAddress& addr, bool reuse_port, int extra_flags) {
  int fd = ::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | extra_flags, 0);
  if (fd < 0) return Error{std::string("socket: ") + strerror(errno)};
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (addr.storage.ss_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr.storage), addr.len) != 0) {
    int e = errno;
    ::close(fd);
    return Error{"cannot listen on " + addr.ToString() + ": " + strerror(e)};
  }
  return fd;
}
}  // namespace

Result<SocketAddress> ReserveAddress(const SocketAddress& addr) {
  // Without SO_REUSEPORT, bind fails if anyone listens there already, even a
  // process that did set SO_REUSEPORT (another hearth).
  auto fd = BoundSocket(addr, /*reuse_port=*/false, 0);
  if (!fd.ok()) return fd.error();
  SocketAddress bound = LocalAddress(*fd);
  ::close(*fd);
  return bound;
}

Result<int> ListenReusePort(const SocketAddress& addr, int backlog) {
  auto fd = BoundSocket(addr, /*reuse_port=*/true, SOCK_NONBLOCK);
  if (!fd.ok()) return fd;
  if (::listen(*fd, backlog) != 0) {
    int e = errno;
    ::close(*fd);
    return Error{"cannot listen on " + addr.ToString() + ": " + strerror(e)};
  }
  return fd;
}

SocketAddress LocalAddress(int fd) {
  SocketAddress a;
  a.len = sizeof a.storage;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.len);
  return a;
}

}  // namespace hearth

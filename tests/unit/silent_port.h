#pragma once
// A loopback port that takes connections (the kernel's backlog) and never
// answers: a CA, an upstream or a responder that hangs. Tests of work that
// waits on the network use it to prove a hang holds nothing else up.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace hearth {

struct SilentPort {
  int fd = -1;
  int port = 0;
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port); }
  SilentPort() {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 8) != 0)
      return;  // port stays 0: the test's ASSERT on it fails
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentPort() {
    if (fd >= 0) close(fd);
  }
  SilentPort(const SilentPort&) = delete;
  SilentPort& operator=(const SilentPort&) = delete;
};

}  // namespace hearth

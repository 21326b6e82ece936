#include "io/transport.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hearth {

Transport::~Transport() {
  if (fd_ >= 0) close(fd_);  // also removes it from any epoll set
}

Transport::ReadResult Transport::Read(char* buf, size_t len) {
  ReadResult r;
  ssize_t n = read(fd_, buf, len);
  if (n > 0) {
    r.kind = ReadResult::kData;
    r.n = static_cast<size_t>(n);
    r.drained = r.n < len;  // a short read: the socket is empty for now
  } else if (n == 0) {
    r.kind = ReadResult::kEof;
  } else if (errno == EAGAIN) {
    r.kind = ReadResult::kAgain;
  } else if (errno == EINTR) {
    r.kind = ReadResult::kRetry;
  } else {
    r.kind = ReadResult::kError;
  }
  return r;
}

void Transport::Shutdown() {
  shutdown(fd_, SHUT_WR);
}

}  // namespace hearth

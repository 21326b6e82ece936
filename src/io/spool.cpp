#include "io/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cstring>

namespace hearth {
namespace {

// O_TMPFILE where the file system has it; otherwise a named file unlinked at
// once (the window in which a crash would leave it is a few microseconds).
Result<int> OpenUnnamed(const std::string& dir) {
  int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  std::string name = dir + "/.spool-XXXXXX";
  fd = mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return Error{"cannot create a temporary file in " + dir + ": " + strerror(errno)};
  unlink(name.c_str());
  return fd;
}

}  // namespace

Spool::Spool(std::string dir, size_t memory_limit)
    : dir_(std::move(dir)), memory_limit_(memory_limit) {}

Spool::~Spool() {
  if (fd_ >= 0) close(fd_);
}

Status Spool::Spill() {
  auto fd = OpenUnnamed(dir_);
  if (!fd.ok()) return fd.error();
  fd_ = *fd;
  std::string held = std::move(memory_);
  memory_ = std::string();
  size_ = 0;
  return Append(held);
}

Status Spool::Append(std::string_view bytes) {
  if (fd_ < 0) {
    if (memory_.size() + bytes.size() <= memory_limit_) {
      memory_.append(bytes);
      size_ += bytes.size();
      return OkStatus();
    }
    if (Status st = Spill(); !st.ok()) return st;
  }
  while (!bytes.empty()) {
    ssize_t n = pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(size_));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return Error{std::string("cannot write a temporary file: ") +
                   strerror(n < 0 ? errno : ENOSPC)};
    size_ += static_cast<uint64_t>(n);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

Status Spool::ReadAt(uint64_t offset, char* out, size_t n) const {
  if (offset > size_ || n > size_ - offset) return Error{"read past the end of a spool"};
  if (fd_ < 0) {
    memcpy(out, memory_.data() + offset, n);
    return OkStatus();
  }
  while (n > 0) {
    ssize_t got = pread(fd_, out, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0)
      return Error{std::string("cannot read a temporary file: ") + strerror(got < 0 ? errno : EIO)};
    out += got;
    offset += static_cast<uint64_t>(got);
    n -= static_cast<size_t>(got);
  }
  return OkStatus();
}

Result<std::string> Spool::ReadAll() const {
  if (fd_ < 0) return memory_;
  std::string all(size_, '\0');
  if (Status st = ReadAt(0, all.data(), all.size()); !st.ok()) return st.error();
  return all;
}

}  // namespace hearth

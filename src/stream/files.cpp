#include "stream/files.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace hearth::stream {

std::string Errno(const std::string& what) {
  return what + ": " + strerror(errno);
}

std::string Hex16(uint64_t v) {
  char buf[20];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool ParseHex16(std::string_view s, uint64_t* out) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

uint64_t RandomId() {
  uint64_t id = 0;
  while (id == 0)
    if (getrandom(&id, sizeof id, 0) != static_cast<ssize_t>(sizeof id)) id = 0;
  return id;
}

Status FsyncPath(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{Errno("cannot open " + path)};
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return Error{Errno("cannot fsync " + path)};
  return OkStatus();
}

Status WriteFileDurably(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = dir + "/" + name, tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error{Errno("cannot create " + tmp)};
  bool ok =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  std::string err = ok ? "" : Errno("cannot write " + tmp);
  close(fd);
  if (!ok) return Error{err};
  if (rename(tmp.c_str(), path.c_str()) != 0) return Error{Errno("cannot rename " + tmp)};
  return FsyncPath(dir);
}

Result<std::string> ReadSmallFile(const std::string& path, bool* missing) {
  *missing = false;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) *missing = true;
    return Error{Errno("cannot open " + path)};
  }
  std::string out;
  char buf[4096];
  ssize_t got;
  while ((got = read(fd, buf, sizeof buf)) > 0 && out.size() < 65536) out.append(buf, got);
  close(fd);
  if (got < 0) return Error{Errno("cannot read " + path)};
  return out;
}

}  // namespace hearth::stream

#include "files/safe_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace hearth {
namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
std::atomic<bool> g_openat2_works{true};
}  // namespace

PathError DecodeRequestPath(std::string_view path, std::string* out) {
  out->clear();
  if (path.empty() || path[0] != '/') return PathError::kBadEncoding;
  size_t seg_start = 0;
  auto check_segment = [&](size_t end) {
    std::string_view seg(out->data() + seg_start, end - seg_start);
    if (seg == "." || seg == "..") return PathError::kTraversal;
    if (!seg.empty() && seg[0] == '.' && seg != ".well-known") return PathError::kHidden;
    return PathError::kNone;
  };
  for (size_t i = 1; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size()) return PathError::kBadEncoding;
      int hi = HexValue(path[i + 1]), lo = HexValue(path[i + 2]);
      if (hi < 0 || lo < 0) return PathError::kBadEncoding;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
      if (c == '/' || c == '\\' || c == '\0') return PathError::kBadEncoding;
      out->push_back(c);
      continue;
    }
    if (c == '\\') return PathError::kBadEncoding;
    // Raw control bytes (NUL above all) never come from the HTTP parser, but
    // this function must not rely on its caller for that.
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return PathError::kBadEncoding;
    if (c == '/') {
      if (PathError e = check_segment(out->size()); e != PathError::kNone) return e;
      // Collapse empty segments ("a//b").
      if (!out->empty() && out->back() != '/') out->push_back('/');
      seg_start = out->size();
      continue;
    }
    out->push_back(c);
  }
  return check_segment(out->size());
}

int OpenBeneath(int root_fd, const std::string& root_real, const std::string& relative) {
  const char* rel = relative.empty() ? "." : relative.c_str();
  if (g_openat2_works.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    int e = errno;
    if (e == ENOSYS || e == EPERM) {
      g_openat2_works.store(false);
    } else if (e != EXDEV) {
      return -e;
    }
    // EXDEV: a symlink leads out of the root, or it is absolute. An absolute
    // symlink may still land inside the root: decide by its real path below.
  }
  std::string full = root_real + "/" + relative;
  char resolved[PATH_MAX];
  if (!realpath(full.c_str(), resolved)) return -errno;
  std::string_view r(resolved);
  if (root_real != "/" && r != root_real &&
      (r.substr(0, root_real.size()) != root_real || r[root_real.size()] != '/'))
    return -EXDEV;
  int fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  return fd >= 0 ? fd : -errno;
}

}  // namespace hearth

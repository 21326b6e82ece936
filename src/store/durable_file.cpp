#include "store/durable_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <vector>

namespace hearth::store {
namespace {

Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error{"cannot open " + dir};
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return Error{"cannot sync " + dir};
  return OkStatus();
}

std::string TmpSuffix() {
  unsigned char r[8] = {};
  if (getrandom(r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
    uint64_t t = static_cast<uint64_t>(getpid()) ^ static_cast<uint64_t>(time(nullptr));
    std::memcpy(r, &t, sizeof r);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : r) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace

Status WriteFileDurably(const std::string& path, std::string_view data) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(path).parent_path();
  // The folders it creates must survive a crash too: each new one is synced
  // into its parent once it exists.
  std::vector<fs::path> created;
  std::error_code ec;
  for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path())
    created.push_back(p);
  fs::create_directories(dir, ec);
  if (ec) return Error{"cannot create " + dir.string() + ": " + ec.message()};
  std::string tmp = dir.string() + "/.upload-" + TmpSuffix();
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return Error{"cannot write " + tmp + ": " + strerror(errno)};
  size_t off = 0;
  int err = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
    off += static_cast<size_t>(n);
  }
  if (!err && fsync(fd) != 0) err = errno;
  close(fd);
  if (!err && rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err) {
    unlink(tmp.c_str());
    return Error{"cannot write " + path + ": " + strerror(err)};
  }
  Status synced = SyncDir(dir.string());
  for (const auto& p : created)
    if (synced.ok()) synced = SyncDir(p.parent_path().string());
  if (!synced.ok()) unlink(path.c_str());  // not durable: not kept either
  return synced;
}

void RemoveFileAndEmptyFolder(const std::string& path) {
  unlink(path.c_str());
  // rmdir refuses a folder that still holds files.
  rmdir(std::filesystem::path(path).parent_path().c_str());
}

}  // namespace hearth::store

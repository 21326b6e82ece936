#include "s3/local_dir_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>

#include "crypto/random.h"

namespace hearth::s3 {

namespace {

constexpr std::string_view kTmpPrefix = ".hearth-tmp-";

Error Errno(std::string_view what, const std::string& path) {
  return Error{std::string(what) + " " + path + ": " + strerror(errno)};
}

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Makes every missing folder down to `dir` (mkdir -p: the root too, on the
// first write to a new target).
Status MakeDirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    std::string at = dir.substr(0, i);
    if (mkdir(at.c_str(), 0755) != 0 && errno != EEXIST) return Errno("cannot create", at);
  }
  return OkStatus();
}

Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("cannot write", path);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

// Copies all of `from` into `fd` in blocks (a large object never sits in memory).
// `object`: `from` is one of the store's objects, which (as in Get) must be
// the file itself, never a link planted under its name.
Status CopyFrom(const std::string& from, int fd, const std::string& to, bool object = false) {
  int in = open(from.c_str(), O_RDONLY | O_CLOEXEC | (object ? O_NOFOLLOW : 0));
  if (in < 0) return Errno("cannot read", from);
  std::string buf(1 << 20, '\0');
  Status st = OkStatus();
  for (;;) {
    ssize_t n = read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = Errno("cannot read", from);
      break;
    }
    if (n == 0) break;
    if (st = WriteAll(fd, std::string_view(buf.data(), static_cast<size_t>(n)), to); !st.ok())
      break;
  }
  close(in);
  return st;
}

// tmp beside `dest`, filled, fsynced, renamed over it, folder fsynced: a
// crash at any point leaves the old file or the new one.
Status WriteAtomically(const std::string& dest, const std::function<Status(int)>& fill) {
  std::string dir = Dirname(dest);
  std::string tmp = dir + "/" + std::string(kTmpPrefix) + crypto::RandomChars(12);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  Status st = fill(fd);
  if (st.ok() && fsync(fd) != 0) st = Errno("cannot fsync", tmp);
  if (close(fd) != 0 && st.ok()) st = Errno("cannot write", tmp);
  if (st.ok() && rename(tmp.c_str(), dest.c_str()) != 0) st = Errno("cannot rename onto", dest);
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st;
  }
  if (int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return OkStatus();
}

std::string IsoTime(time_t t) {
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

// Regular files under root/rel, depth first; temporaries and anything that is
// neither a file nor a folder (symlinks, sockets) are skipped.
Status Walk(const std::string& root, const std::string& rel, std::vector<ObjectInfo>* out,
            int depth) {
  if (depth > 512) return Error{"folders nested too deep under " + root};
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT && rel.empty()) return OkStatus();  // nothing written yet
    return Errno("cannot list", dir);
  }
  Status st = OkStatus();
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name.rfind(kTmpPrefix, 0) == 0) continue;
    std::string key = rel.empty() ? name : rel + "/" + name;
    struct stat sb {};
    if (lstat((root + "/" + key).c_str(), &sb) != 0) continue;  // removed meanwhile
    if (S_ISDIR(sb.st_mode)) {
      if (st = Walk(root, key, out, depth + 1); !st.ok()) break;
    } else if (S_ISREG(sb.st_mode)) {
      out->push_back({key, static_cast<uint64_t>(sb.st_size), IsoTime(sb.st_mtime)});
    }
  }
  closedir(d);
  return st;
}

}  // namespace

Result<std::string> LocalDirStore::PathOf(std::string_view key) const {
  if (Status st = CheckKey(key); !st.ok()) return st.error();
  return root_ + "/" + std::string(key);
}

Status LocalDirStore::Put(std::string_view key, std::string_view bytes) {
  auto path = PathOf(key);
  if (!path.ok()) return path.error();
  if (Status st = MakeDirs(Dirname(*path)); !st.ok()) return st;
  return WriteAtomically(*path, [&](int fd) { return WriteAll(fd, bytes, *path); });
}

Status LocalDirStore::PutFile(std::string_view key, const std::string& from) {
  auto path = PathOf(key);
  if (!path.ok()) return path.error();
  if (Status st = MakeDirs(Dirname(*path)); !st.ok()) return st;
  return WriteAtomically(*path, [&](int fd) { return CopyFrom(from, fd, *path); });
}

Result<std::string> LocalDirStore::Get(std::string_view key) {
  auto path = PathOf(key);
  if (!path.ok()) return path.error();
  int fd = open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return Error{"no object " + std::string(key) + " in " + Describe()};
    return Errno("cannot read", *path);
  }
  std::string out, buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return Errno("cannot read", *path);
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

Status LocalDirStore::GetToFile(std::string_view key, const std::string& to) {
  auto path = PathOf(key);
  if (!path.ok()) return path.error();
  if (access(path->c_str(), F_OK) != 0)
    return Error{"no object " + std::string(key) + " in " + Describe()};
  return WriteAtomically(to, [&](int fd) { return CopyFrom(*path, fd, to, /*object=*/true); });
}

Result<std::optional<ObjectInfo>> LocalDirStore::Head(std::string_view key) {
  auto path = PathOf(key);
  if (!path.ok()) return path.error();
  struct stat sb {};
  if (lstat(path->c_str(), &sb) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<ObjectInfo>();
    return Errno("cannot stat", *path);
  }
  if (!S_ISREG(sb.st_mode)) return std::optional<ObjectInfo>();
  return std::optional<ObjectInfo>(
      ObjectInfo{std::string(key), static_cast<uint64_t>(sb.st_size), IsoTime(sb.st_mtime)});
}

Result<std::vector<ObjectInfo>> LocalDirStore::List(std::string_view prefix) {
  std::vector<ObjectInfo> all;
  if (Status st = Walk(root_, "", &all, 0); !st.ok()) return st.error();
  std::vector<ObjectInfo> out;
  for (auto& o : all)
    if (o.key.compare(0, prefix.size(), prefix) == 0) out.push_back(std::move(o));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return out;
}

Status LocalDirStore::Delete(std::string_view key) {
  auto path = PathOf(key);
  if (!path.ok()) return path.error();
  if (unlink(path->c_str()) != 0 && errno != ENOENT && errno != ENOTDIR)
    return Errno("cannot remove", *path);
  // Folders the key made, now empty, go too (rmdir refuses a non-empty one).
  for (std::string dir = Dirname(*path); dir.size() > root_.size(); dir = Dirname(dir))
    if (rmdir(dir.c_str()) != 0) break;
  return OkStatus();
}

}  // namespace hearth::s3

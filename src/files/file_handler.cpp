#include "files/file_handler.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "base/clock.h"
#include "base/strings.h"
#include "files/representation.h"
#include "files/safe_path.h"
#include "http/mime.h"

namespace hearth {
namespace {}  // namespace

FileHandler::FileHandler(FileHandlerOptions options) : options_(std::move(options)) {}

FileHandler::~FileHandler() {
  if (root_fd_ >= 0) close(root_fd_);
}

Result<std::unique_ptr<FileHandler>> FileHandler::Create(FileHandlerOptions options) {
  std::unique_ptr<FileHandler> h(new FileHandler(std::move(options)));
  char real[PATH_MAX];
  if (!realpath(h->options_.root.c_str(), real))
    return Error{"cannot serve \"" + h->options_.root + "\": " + strerror(errno)};
  h->root_real_ = real;
  h->root_fd_ = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (h->root_fd_ < 0)
    return Error{"cannot serve \"" + h->options_.root + "\": " + strerror(errno)};
  return h;
}

Result<FileHandler::Entry> FileHandler::Load(const std::string& relative, int* err) {
  int fd = OpenBeneath(root_fd_, root_real_, relative);
  if (fd < 0) {
    *err = -fd;
    return Error{strerror(-fd)};
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *err = errno;
    close(fd);
    return Error{"stat failed"};
  }
  Entry e;
  e.ino = st.st_ino;
  e.size = static_cast<uint64_t>(st.st_size);
  e.mtime_s = st.st_mtim.tv_sec;
  e.mtime_ns = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + st.st_mtim.tv_nsec;
  e.checked_ms = MonoNowMillis();
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    e.is_dir = true;
    return e;
  }
  if (!S_ISREG(st.st_mode)) {  // devices, FIFOs, sockets are never served
    close(fd);
    *err = ENOENT;
    return Error{"not a regular file"};
  }
  char etag[64];
  snprintf(
      etag, sizeof etag, "\"%llx%llx-%llx\"", static_cast<unsigned long long>(st.st_mtim.tv_sec),
      static_cast<unsigned long long>(st.st_mtim.tv_nsec), static_cast<unsigned long long>(e.size));
  e.etag = etag;
  e.last_modified = FormatHttpDate(e.mtime_s);
  e.fields = "Content-Type: ";
  e.fields.append(MimeTypeForPath(relative));
  e.fields += "\r\nETag: " + e.etag + "\r\nLast-Modified: " + e.last_modified +
              "\r\nAccept-Ranges: bytes\r\n";
  if (e.size <= options_.max_cached_file) {
    std::string content(e.size, '\0');
    size_t got = 0;
    while (got < e.size) {
      ssize_t n = pread(fd, content.data() + got, e.size - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    close(fd);
    if (got != e.size) {  // changed while we read: do not cache a torn copy
      *err = EAGAIN;
      return Error{"file changed while reading"};
    }
    e.content = std::make_shared<const std::string>(std::move(content));
  } else {
    e.fd = std::make_shared<SharedFd>(fd);
  }
  return e;
}

void FileHandler::Insert(const std::string& key, Entry entry) {
  uint64_t add = entry.content ? entry.content->size() : 0;
  while (!cache_.empty() &&
         (cache_.size() >= options_.max_entries || cached_bytes_ + add > options_.cache_bytes)) {
    auto victim = cache_.begin();
    cached_bytes_ -= victim->second.content ? victim->second.content->size() : 0;
    cache_.erase(victim);
  }
  cached_bytes_ += add;
  cache_[key] = std::move(entry);
}

const FileHandler::Entry* FileHandler::Lookup(const std::string& relative, int* err) {
  int64_t now = MonoNowMillis();
  auto it = cache_.find(relative);
  if (it != cache_.end()) {
    Entry& e = it->second;
    if (now - e.checked_ms < options_.revalidate_ms) return &e;
    // Stale: re-resolve (a symlink may have changed) and compare identity.
    int fd = OpenBeneath(root_fd_, root_real_, relative);
    struct stat st;
    bool same = false;
    if (fd >= 0) {
      same = fstat(fd, &st) == 0 && st.st_ino == e.ino &&
             static_cast<uint64_t>(st.st_size) == e.size &&
             static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + st.st_mtim.tv_nsec ==
                 e.mtime_ns;
      close(fd);
    }
    if (same) {
      e.checked_ms = now;
      return &e;
    }
    cached_bytes_ -= e.content ? e.content->size() : 0;
    cache_.erase(it);
  }
  auto loaded = Load(relative, err);
  if (!loaded.ok()) return nullptr;
  Insert(relative, std::move(loaded).value());
  return &cache_.find(relative)->second;
}

void FileHandler::Serve(Request& req, Response& res) {
  if (req.method != Method::kGet && req.method != Method::kHead) {
    res.SetError(405);
    res.SetHeader("Allow", "GET, HEAD");
    return;
  }
  PathError pe = DecodeRequestPath(req.path, &scratch_);
  if (pe == PathError::kBadEncoding || pe == PathError::kTraversal) {
    res.SetError(400, "invalid path");
    return;
  }
  if (pe == PathError::kHidden) {
    res.SetError(404);
    return;
  }
  int err = 0;
  const Entry* e = Lookup(scratch_, &err);
  if (e && e->is_dir) {
    if (req.path.back() != '/') {
      // A path on this host: "//x/" would be another host to a browser. The
      // protocols hand over normal paths (http/path.h), so this only guards a
      // caller that did not.
      std::string_view path = req.path;
      while (path.size() > 1 && path[1] == '/') path.remove_prefix(1);
      std::string location(path);
      location.push_back('/');
      if (!req.query.empty()) {
        location.push_back('?');
        location.append(req.query);
      }
      res.SetError(301);
      res.SetHeader("Location", location);
      return;
    }
    std::string index = scratch_ + "index.html";
    e = Lookup(index, &err);
    if (e && e->is_dir) e = nullptr;
    if (!e) err = ENOENT;
  }
  if (!e) {
    res.SetError(err == EACCES ? 403 : 404);
    return;
  }

  Representation rep;
  rep.etag = e->etag;
  rep.last_modified = e->last_modified;
  rep.mtime_s = e->mtime_s;
  rep.fields = e->fields;
  rep.size = e->size;
  rep.content = e->content;
  rep.fd = e->fd;
  ServeRepresentation(req, res, rep);
}

}  // namespace hearth

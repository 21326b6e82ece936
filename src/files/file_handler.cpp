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
#include "files/safe_path.h"
#include "http/mime.h"

namespace hearth {
namespace {

enum class RangeKind { kIgnore, kOk, kUnsatisfiable };

// One "bytes=" range (RFC 9110 §14.1.2). Several ranges, or anything malformed,
// is ignored and the whole file is served, which the RFC allows.
RangeKind ParseRange(std::string_view h, uint64_t size, uint64_t* start, uint64_t* len) {
  if (h.size() < 6 || !EqualsIgnoreCase(h.substr(0, 6), "bytes=")) return RangeKind::kIgnore;
  std::string_view spec = TrimOws(h.substr(6));
  if (spec.find(',') != std::string_view::npos) return RangeKind::kIgnore;
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeKind::kIgnore;
  std::string_view a = TrimOws(spec.substr(0, dash)), b = TrimOws(spec.substr(dash + 1));
  uint64_t first, last;
  if (a.empty()) {  // suffix: the last N bytes
    uint64_t n;
    if (!ParseUint(b, &n)) return RangeKind::kIgnore;
    if (n == 0 || size == 0) return RangeKind::kUnsatisfiable;
    if (n > size) n = size;
    *start = size - n;
    *len = n;
    return RangeKind::kOk;
  }
  if (!ParseUint(a, &first)) return RangeKind::kIgnore;
  if (b.empty()) {
    last = size ? size - 1 : 0;
  } else {
    if (!ParseUint(b, &last) || last < first) return RangeKind::kIgnore;
    if (size && last >= size) last = size - 1;
  }
  if (first >= size) return RangeKind::kUnsatisfiable;
  *start = first;
  *len = last - first + 1;
  return RangeKind::kOk;
}

// If-None-Match uses the weak comparison (RFC 9110 §13.1.2).
bool EtagListMatches(std::string_view list, std::string_view etag) {
  if (TrimOws(list) == "*") return true;
  std::string_view strong = etag;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view t = TrimOws(list.substr(0, comma));
    if (t.substr(0, 2) == "W/") t.remove_prefix(2);
    if (t == strong) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

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
  snprintf(etag, sizeof etag, "\"%llx%llx-%llx\"", static_cast<unsigned long long>(st.st_mtim.tv_sec),
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
      same = fstat(fd, &st) == 0 && st.st_ino == e.ino && static_cast<uint64_t>(st.st_size) == e.size &&
             static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + st.st_mtim.tv_nsec == e.mtime_ns;
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
      std::string location(req.path);
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

  std::string_view inm = req.Header("If-None-Match");
  bool not_modified = false;
  if (!inm.empty()) {
    not_modified = EtagListMatches(inm, e->etag);
  } else if (std::string_view ims = req.Header("If-Modified-Since"); !ims.empty()) {
    int64_t t = ParseHttpDate(ims);
    not_modified = t >= 0 && e->mtime_s <= t;
  }
  if (not_modified) {
    res.status = 304;
    res.SetHeader("ETag", e->etag);
    res.SetHeader("Last-Modified", e->last_modified);
    return;
  }

  uint64_t start = 0, len = e->size;
  std::string_view range = req.Header("Range");
  if (!range.empty() && req.method == Method::kGet) {
    std::string_view if_range = req.Header("If-Range");
    bool apply = true;
    if (!if_range.empty()) {
      if (if_range[0] == '"') apply = if_range == e->etag;
      else if (if_range.substr(0, 2) == "W/") apply = false;  // weak never matches here
      else apply = if_range == e->last_modified;
    }
    if (apply) {
      RangeKind k = ParseRange(range, e->size, &start, &len);
      if (k == RangeKind::kUnsatisfiable) {
        res.SetError(416);
        std::string cr = "bytes */";
        AppendUint(&cr, e->size);
        res.SetHeader("Content-Range", cr);
        return;
      }
      if (k == RangeKind::kOk) {
        res.status = 206;
        std::string cr = "bytes ";
        AppendUint(&cr, start);
        cr.push_back('-');
        AppendUint(&cr, start + len - 1);
        cr.push_back('/');
        AppendUint(&cr, e->size);
        res.SetHeader("Content-Range", cr);
      }
    }
  }
  res.fields.append(e->fields);
  if (e->content) res.SetShared(e->content, start, len);
  else res.SetFile(e->fd, start, len);
}

}  // namespace hearth

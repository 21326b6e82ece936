#pragma once
// Serving a folder, the way `caddy file-server` does: index.html, Content-Type
// by extension, ETag/If-None-Match and Last-Modified/If-Modified-Since (304),
// Range and If-Range (206, 416), HEAD, 301 to add a directory's slash, small
// 404/405 bodies. Paths never leave the root (see safe_path.h).
//
// One FileHandler per worker thread: its cache of open files and small file
// contents is the worker's own, so a hit takes no lock and, while the entry is
// fresh (checked at most once a second), no system call.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/result.h"
#include "http/request.h"
#include "http/response.h"

namespace hearth {

struct FileHandlerOptions {
  std::string root;
  uint64_t cache_bytes = 64ull << 20;     // per worker, contents of small files
  uint64_t max_cached_file = 256 * 1024;  // larger files are sent with sendfile
  size_t max_entries = 4096;
  int64_t revalidate_ms = 1000;  // how stale a cache entry may get
};

class FileHandler {
 public:
  static Result<std::unique_ptr<FileHandler>> Create(FileHandlerOptions options);
  ~FileHandler();

  void Serve(Request& req, Response& res);

 private:
  struct Entry {
    bool is_dir = false;
    uint64_t size = 0;
    int64_t mtime_s = 0;
    uint64_t mtime_ns = 0, ino = 0;
    int64_t checked_ms = 0;
    std::string etag;  // "\"...\""
    std::string last_modified;
    std::string fields;                          // Content-Type, ETag, Last-Modified, Accept-Ranges
    std::shared_ptr<const std::string> content;  // small files
    std::shared_ptr<SharedFd> fd;                // large files
  };

  explicit FileHandler(FileHandlerOptions options);
  // Looks up (and refreshes) the entry for a decoded relative path; nullptr
  // with *err = errno-like code when it cannot be served.
  const Entry* Lookup(const std::string& relative, int* err);
  Result<Entry> Load(const std::string& relative, int* err);
  void Insert(const std::string& key, Entry entry);

  FileHandlerOptions options_;
  int root_fd_ = -1;
  std::string root_real_;
  std::unordered_map<std::string, Entry> cache_;
  uint64_t cached_bytes_ = 0;
  std::string scratch_;
};

}  // namespace hearth

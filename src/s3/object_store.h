#pragma once
// Where backups (and later, objects) go: an S3 bucket under a prefix, or a
// local folder, behind one interface, so the code above never knows which.
// Keys are relative to the store's root ("segments/0001"), '/'-separated;
// both stores refuse the same bad keys (CheckKey), so a key that works on one
// works on the other.
//
//   s3://bucket/prefix   S3Client (client.h): SigV4, retries, multipart
//   file:///abs/path     LocalDirStore (local_dir_store.h): tmp+fsync+rename
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "s3/sigv4.h"

namespace hearth::s3 {

struct ObjectInfo {
  std::string key;  // relative to the store's root
  uint64_t size = 0;
  std::string last_modified;  // ISO 8601 UTC, as the store gives it
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  // Whole or nothing: a reader sees the old object or the new one, never a part.
  virtual Status Put(std::string_view key, std::string_view bytes) = 0;
  virtual Status PutFile(std::string_view key, const std::string& path) = 0;
  virtual Result<std::string> Get(std::string_view key) = 0;
  // Writes the object to `path` (replaced whole, only once it is complete).
  virtual Status GetToFile(std::string_view key, const std::string& path) = 0;
  // Null when there is no such object.
  virtual Result<std::optional<ObjectInfo>> Head(std::string_view key) = 0;
  // Every object whose key starts with `prefix`, sorted by key.
  virtual Result<std::vector<ObjectInfo>> List(std::string_view prefix) = 0;
  // Removing a key that does not exist is not an error (as in S3).
  virtual Status Delete(std::string_view key) = 0;
  // "s3://bucket/prefix" or "file:///path": for messages (never a secret).
  virtual std::string Describe() const = 0;
};

// A key both stores accept: 1..1024 bytes of UTF-8, no NUL or control
// bytes, not absolute, no empty, "." or ".." segment, no trailing '/'.
Status CheckKey(std::string_view key);

// A backup target URL, parsed.
struct Target {
  enum Kind { kS3, kFile } kind = kS3;
  std::string bucket;  // s3
  std::string prefix;  // s3: "" or "a/b" (no leading or trailing '/')
  std::string path;    // file: absolute, without a trailing '/'
};
// s3://bucket[/prefix] or file:///absolute/path; a clear error otherwise.
Result<Target> ParseTarget(std::string_view url);

// How to reach S3 (ignored for file://).
struct StoreOptions {
  std::string endpoint;  // "" = AWS; "http://127.0.0.1:9000" = path-style there
  std::string region = "us-east-1";
  Credentials creds;
  int max_tries = 5;  // per request
  long connect_timeout_ms = 10000;
  long timeout_ms = 600000;
};

Result<std::unique_ptr<ObjectStore>> OpenObjectStore(std::string_view url,
                                                     const StoreOptions& options);

}  // namespace hearth::s3

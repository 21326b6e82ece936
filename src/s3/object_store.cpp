#include "s3/object_store.h"

#include "base/strings.h"
#include "s3/client.h"
#include "s3/local_dir_store.h"

namespace hearth::s3 {

Status CheckKey(std::string_view key) {
  auto bad = [&](std::string_view why) {
    return Error{"refused object key \"" + std::string(key.substr(0, 80)) +
                 "\": " + std::string(why)};
  };
  if (key.empty()) return Error{"refused an empty object key"};
  if (key.size() > 1024) return bad("longer than 1024 bytes");
  for (char c : key)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return bad("a control or NUL byte");
  if (!IsValidUtf8(key)) return bad("not UTF-8");
  if (key.front() == '/') return bad("absolute");
  if (key.back() == '/') return bad("ends with '/'");
  size_t start = 0;
  while (start <= key.size()) {
    size_t slash = key.find('/', start);
    if (slash == std::string_view::npos) slash = key.size();
    std::string_view seg = key.substr(start, slash - start);
    if (seg.empty()) return bad("an empty segment");
    if (seg == "." || seg == "..") return bad("a '.' or '..' segment");
    start = slash + 1;
  }
  return OkStatus();
}

namespace {

// S3's rules for bucket names: 3-63 of a-z 0-9 . -, starting and ending
// with a letter or digit.
bool ValidBucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(b.front()) && alnum(b.back()) && b.find("..") == std::string_view::npos;
}

}  // namespace

Result<Target> ParseTarget(std::string_view url) {
  Target t;
  if (url.rfind("s3://", 0) == 0) {
    std::string_view rest = url.substr(5);
    size_t slash = rest.find('/');
    std::string_view bucket = rest.substr(0, slash);
    std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    if (bucket.empty()) return Error{"no bucket in " + std::string(url) + " (s3://bucket/prefix)"};
    if (!ValidBucket(bucket))
      return Error{"\"" + std::string(bucket) +
                   "\" is not a valid S3 bucket name (3-63 of a-z, 0-9, '.', '-')"};
    if (!prefix.empty()) {
      if (Status st = CheckKey(prefix); !st.ok())
        return Error{"bad prefix in " + std::string(url) + ": " + st.error().message};
    }
    t.kind = Target::kS3;
    t.bucket = std::string(bucket);
    t.prefix = std::string(prefix);
    return t;
  }
  if (url.rfind("file://", 0) == 0) {
    std::string_view path = url.substr(7);
    if (path.empty() || path.front() != '/')
      return Error{"file:// needs an absolute path with no host: file:///var/backups/hearth, not " +
                   std::string(url)};
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    if (path == "/") return Error{"refusing file:/// (the root folder) as a backup target"};
    if (path.find('\0') != std::string_view::npos || path.find("/../") != std::string_view::npos ||
        path.substr(path.size() >= 3 ? path.size() - 3 : 0) == "/..")
      return Error{"file:// path must not contain '..': " + std::string(url)};
    t.kind = Target::kFile;
    t.path = std::string(path);
    return t;
  }
  return Error{"a backup target is s3://bucket/prefix or file:///path, not \"" +
               std::string(url.substr(0, 200)) + "\""};
}

Result<std::unique_ptr<ObjectStore>> OpenObjectStore(std::string_view url,
                                                     const StoreOptions& options) {
  auto target = ParseTarget(url);
  if (!target.ok()) return target.error();
  if (target->kind == Target::kFile)
    return std::unique_ptr<ObjectStore>(std::make_unique<LocalDirStore>(target->path));
  if (options.creds.key_id.empty() || options.creds.secret.empty())
    return Error{"an s3:// target needs a key id and a secret (--backup-key-id, --backup-secret)"};
  S3ClientOptions o;
  o.endpoint = options.endpoint;
  o.region = options.region.empty() ? "us-east-1" : options.region;
  o.bucket = target->bucket;
  o.prefix = target->prefix;
  o.creds = options.creds;
  o.max_tries = options.max_tries;
  o.connect_timeout_ms = options.connect_timeout_ms;
  o.timeout_ms = options.timeout_ms;
  auto client = S3Client::Make(std::move(o));
  if (!client.ok()) return client.error();
  return std::unique_ptr<ObjectStore>(std::move(*client));
}

}  // namespace hearth::s3

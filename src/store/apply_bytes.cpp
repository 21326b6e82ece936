// Applying blob and file ops (store/apply_bytes.h), and the bytes source
// that reads another data folder.
#include "store/apply_bytes.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "crypto/hash.h"
#include "store/durable_file.h"
#include "store/sqlite.h"

namespace hearth::store {
namespace {

std::string Hex(std::string_view raw) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : raw) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

Result<std::string> ReadWholeFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{"cannot read " + path + ": " + strerror(errno)};
  std::string out;
  char buf[64 * 1024];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return Error{"cannot read " + path + ": " + strerror(err)};
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

class DataFolderSource : public BytesSource {
 public:
  explicit DataFolderSource(std::string dir) : dir_(std::move(dir)) {}

  Result<std::string> Blob(std::string_view hash, std::string_view encoding) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!db_) {
      auto c = Connection::Open(dir_ + "/hearth.db", Connection::Mode::kReadOnly);
      if (!c.ok()) return c.error();
      db_ = std::move(c).value();
    }
    auto q = db_->Prepare(encoding.empty()
                              ? "SELECT data FROM blobs WHERE hash = ?1"
                              : "SELECT data FROM blob_variants WHERE hash = ?1 AND encoding = ?2");
    if (!q.ok()) return q.error();
    q->Bind(1, hash);
    if (!encoding.empty()) q->Bind(2, encoding);
    Status s = OkStatus();
    if (!q->Step(&s)) {
      if (!s.ok()) return s.error();
      return Error{"blob " + std::string(hash) + " is not in " + dir_};
    }
    return std::string(q->Blob(0));
  }

  Result<std::string> File(std::string_view database, std::string_view path) override {
    return ReadWholeFile(dir_ + "/" + FilesFolderOf(database) + "/" + std::string(path));
  }

 private:
  std::string dir_;
  std::mutex mu_;
  std::unique_ptr<Connection> db_;
};

// The bytes of a put, from the source, as the op says they are.
Result<std::string> Fetch(const ApplyOptions& options, bool blob, const std::string& name,
                          std::string_view encoding, std::string_view database, uint64_t size,
                          std::string_view sha256, const std::string& where) {
  if (!options.source) return Error{where + " needs the bytes of " + name + ": no bytes source"};
  auto bytes = blob ? options.source->Blob(name, encoding) : options.source->File(database, name);
  if (!bytes.ok())
    return Error{where + " needs the bytes of " + name + ": " + bytes.error().message};
  if (bytes->size() != size || crypto::Sha256Digest(*bytes) != sha256)
    return Error{where + ": the bytes of " + name +
                 (encoding.empty() ? std::string() : " (" + std::string(encoding) + ")") +
                 " do not match the SHA-256 the entry names"};
  return bytes;
}

}  // namespace

std::shared_ptr<BytesSource> DataFolderBytes(std::string data_dir) {
  return std::make_shared<DataFolderSource>(std::move(data_dir));
}

std::string FilesFolderOf(std::string_view database) {
  std::string_view file = database.substr(database.rfind('/') + 1);
  if (file.size() > 3 && file.substr(file.size() - 3) == ".db") file.remove_suffix(3);
  return "files/" + std::string(file);
}

Status ApplyByteOp(Connection& c, const EntryView& e, const EntryOp& op,
                   const ApplyOptions& options, const std::string& where,
                   ByteOpsAfterCommit* after) {
  const bool inline_bytes = options.bytes == ApplyOptions::Bytes::kInline;
  PendingBytes pending;
  pending.index = e.index;
  pending.kind = op.kind;
  auto bytes_scope = c.BytesScope();
  switch (op.kind) {
    case OpKind::kBlobPut: {
      auto put = DecodeBlobPut(op.payload);
      if (!put.ok()) return put.error();
      const std::string hash = Hex(put->hash);
      if (put->encoding.empty() && put->sha256 != put->hash)
        return Error{where + ": blob " + hash + " is not named by its SHA-256"};
      auto ins =
          put->encoding.empty()
              ? c.Prepare(
                    "INSERT INTO blobs(hash, size, data, created_at) VALUES (?1, ?2, zeroblob(?2), "
                    "?3)")
              : c.Prepare(
                    "INSERT INTO blob_variants(hash, encoding, data) VALUES (?1, ?3, "
                    "zeroblob(?2))");
      if (!ins.ok()) return Error{"divergence at " + where + ": " + ins.error().message};
      ins->Bind(1, hash).Bind(2, static_cast<int64_t>(put->size));
      if (put->encoding.empty())
        ins->Bind(3, put->created_at);
      else
        ins->Bind(3, put->encoding);
      if (Status s = ins->Run(); !s.ok())
        return Error{"divergence at " + where + ": blob " + hash + ": " + s.error().message};
      const int64_t rowid = c.LastInsertRowid();
      if (inline_bytes) {
        auto data =
            Fetch(options, true, hash, put->encoding, e.database, put->size, put->sha256, where);
        if (!data.ok()) return data.error();
        const std::string& d = *data;
        Status filled = c.FillBlob(put->encoding.empty() ? "blobs" : "blob_variants", "data", rowid,
                                   put->size, [&d](uint64_t off, char* buf, size_t n) {
                                     std::memcpy(buf, d.data() + off, n);
                                     return OkStatus();
                                   });
        if (!filled.ok()) return filled;
      }
      pending.hash = hash;
      pending.encoding = std::string(put->encoding);
      pending.size = put->size;
      pending.sha256 = std::string(put->sha256);
      break;
    }
    case OpKind::kBlobDelete: {
      auto del = DecodeBlobDelete(op.payload);
      if (!del.ok()) return del.error();
      const std::string hash = Hex(del->hash);
      auto q = del->encoding.empty()
                   ? c.Prepare("DELETE FROM blobs WHERE hash = ?1")
                   : c.Prepare("DELETE FROM blob_variants WHERE hash = ?1 AND encoding = ?2");
      if (!q.ok()) return Error{"divergence at " + where + ": " + q.error().message};
      q->Bind(1, hash);
      if (!del->encoding.empty()) q->Bind(2, del->encoding);
      if (Status s = q->Run(); !s.ok()) return s;
      if (c.Changes() != 1)
        return Error{"divergence at " + where + ": blob " + hash + " is missing (NOTFOUND)"};
      pending.hash = hash;
      pending.encoding = std::string(del->encoding);
      break;
    }
    case OpKind::kFilePut: {
      auto put = DecodeFilePut(op.payload);
      if (!put.ok()) return put.error();
      pending.path = std::string(put->path);
      pending.size = put->size;
      pending.sha256 = std::string(put->sha256);
      if (!inline_bytes) break;
      if (options.files_root.empty())
        return Error{where + " holds a record file, and this database has no files folder"};
      auto data =
          Fetch(options, false, pending.path, "", e.database, put->size, put->sha256, where);
      if (!data.ok()) return data.error();
      // Durable before the COMMIT of the record that names it.
      if (Status s = WriteFileDurably(options.files_root + "/" + pending.path, *data); !s.ok())
        return s;
      break;
    }
    case OpKind::kFileDelete:
    case OpKind::kFileDeleteTree: {
      pending.path = std::string(op.payload);
      if (!inline_bytes) break;
      if (options.files_root.empty())
        return Error{where + " removes a record file, and this database has no files folder"};
      // After the COMMIT: a rolled-back entry must find its files still there.
      (op.kind == OpKind::kFileDelete ? after->remove_files : after->remove_trees)
          .push_back(options.files_root + "/" + pending.path);
      break;
    }
    default:
      return Error{where + ": not a byte op"};
  }
  if (!inline_bytes) after->pending.push_back(std::move(pending));
  return OkStatus();
}

void FinishByteOps(ByteOpsAfterCommit* after, const ApplyOptions& options) {
  for (const std::string& path : after->remove_files) RemoveFileAndEmptyFolder(path);
  for (const std::string& path : after->remove_trees) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  if (options.deferred)
    for (PendingBytes& p : after->pending) options.deferred->push_back(std::move(p));
}

}  // namespace hearth::store

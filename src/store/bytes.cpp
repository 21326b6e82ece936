// Connection's byte helpers (sqlite.h): deploy blobs and record files as ops
// of the change stream. A changeset never carries hearth.db's blob tables (a
// blob may be hundreds of MiB, and a DELETE would carry it whole), so the
// rows are written only here, under the bytes scope the writer's authorizer
// checks, and each change is recorded as a blob op instead.
#include <ctime>
#include <string>
#include <vector>

#include "crypto/hash.h"
#include "store/capture.h"
#include "store/entry.h"
#include "store/sqlite.h"

namespace hearth::store {
namespace {

int HexValue(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

// 64 lower-case hex digits -> 32 raw bytes ("" when it is not that).
std::string RawHash(std::string_view hex) {
  if (!crypto::IsSha256Hex(hex)) return "";
  std::string out(32, '\0');
  for (size_t i = 0; i < 32; ++i)
    out[i] = static_cast<char>(HexValue(hex[2 * i]) * 16 + HexValue(hex[2 * i + 1]));
  return out;
}

}  // namespace

Result<bool> Connection::PutBlob(
    std::string_view hash, uint64_t size,
    const std::function<Status(uint64_t offset, char* buf, size_t n)>& read) {
  std::string raw = RawHash(hash);
  if (raw.empty()) return Error{"a blob is named by its lower-case hex SHA-256"};
  auto bytes = BytesScope();
  // Prepared each time: a cached statement is authorized once, and the same
  // text from outside this scope would reuse it.
  auto ins = Prepare(
      "INSERT INTO blobs(hash, size, data, created_at) VALUES (?1, ?2, zeroblob(?2), ?3) "
      "ON CONFLICT(hash) DO NOTHING");
  if (!ins.ok()) return ins.error();
  const int64_t created_at = static_cast<int64_t>(std::time(nullptr));
  ins->Bind(1, hash).Bind(2, static_cast<int64_t>(size)).Bind(3, created_at);
  if (Status st = ins->Run(); !st.ok()) return st.error();
  if (Changes() != 1) return false;  // stored already: the same bytes, by its name
  if (Status st = FillBlob("blobs", "data", LastInsertRowid(), size, read); !st.ok())
    return st.error();
  if (capture_) {
    auto op = EncodeBlobPut({size, created_at, raw, raw, ""});
    if (!op.ok()) return op.error();
    capture_->Add(OpKind::kBlobPut, std::move(op).value());
  }
  return true;
}

Result<bool> Connection::PutBlobVariant(std::string_view hash, std::string_view encoding,
                                        std::string_view data) {
  std::string raw = RawHash(hash);
  if (raw.empty()) return Error{"a blob is named by its lower-case hex SHA-256"};
  auto bytes = BytesScope();
  auto ins = Prepare(
      "INSERT INTO blob_variants(hash, encoding, data) VALUES (?1, ?2, ?3) "
      "ON CONFLICT(hash, encoding) DO NOTHING");
  if (!ins.ok()) return ins.error();
  ins->Bind(1, hash).Bind(2, encoding).BindBlob(3, data);
  if (Status st = ins->Run(); !st.ok()) return st.error();
  if (Changes() != 1) return false;
  if (capture_) {
    std::string sha = crypto::Sha256Digest(data);
    auto op = EncodeBlobPut({data.size(), 0, sha, raw, encoding});
    if (!op.ok()) return op.error();
    capture_->Add(OpKind::kBlobPut, std::move(op).value());
  }
  return true;
}

Result<int> Connection::DeleteCollectedBlobs() {
  auto bytes = BytesScope();
  // Variants first: every deleted row is named, so its op can say which.
  const char* const kSweeps[] = {
      "DELETE FROM blob_variants WHERE hash IN (SELECT hash FROM temp.gc) "
      "AND NOT EXISTS (SELECT 1 FROM version_files f WHERE f.hash = blob_variants.hash) "
      "RETURNING hash, encoding",
      "DELETE FROM blobs WHERE hash IN (SELECT hash FROM temp.gc) "
      "AND NOT EXISTS (SELECT 1 FROM version_files f WHERE f.hash = blobs.hash) "
      "RETURNING hash, ''",
  };
  int deleted = 0;
  for (const char* sql : kSweeps) {
    auto del = Prepare(sql);
    if (!del.ok()) return del.error();
    std::vector<std::pair<std::string, std::string>> gone;
    Status st = OkStatus();
    while (del->Step(&st)) gone.emplace_back(std::string(del->Text(0)), std::string(del->Text(1)));
    if (!st.ok()) return st.error();
    deleted += static_cast<int>(gone.size());
    if (!capture_) continue;
    for (const auto& [hash, encoding] : gone) {
      std::string raw = RawHash(hash);
      if (raw.empty()) return Error{"blob " + hash + " is not named by its SHA-256"};
      auto op = EncodeBlobDelete({raw, encoding});
      if (!op.ok()) return op.error();
      capture_->Add(OpKind::kBlobDelete, std::move(op).value());
    }
  }
  if (Status st = Exec("DELETE FROM temp.gc"); !st.ok()) return st.error();
  return deleted;
}

Status Connection::RecordFilePut(std::string_view path, uint64_t size, std::string_view sha256) {
  if (!capture_) return OkStatus();
  auto op = EncodeFilePut({size, sha256, path});
  if (!op.ok()) return op.error();
  capture_->Add(OpKind::kFilePut, std::move(op).value());
  return OkStatus();
}

Status Connection::RecordFileDelete(std::string_view path) {
  if (!capture_) return OkStatus();
  if (!IsEntryFilePath(path, 3))
    return Error{"file-delete path is not <collection>/<record>/<name>"};
  capture_->Add(OpKind::kFileDelete, std::string(path));
  return OkStatus();
}

Status Connection::RecordFileDeleteTree(std::string_view collection) {
  if (!capture_) return OkStatus();
  if (!IsEntryFilePath(collection, 1)) return Error{"file-delete-tree path is not <collection>"};
  capture_->Add(OpKind::kFileDeleteTree, std::string(collection));
  return OkStatus();
}

}  // namespace hearth::store

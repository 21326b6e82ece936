#pragma once
// The bytes an applied entry names. Blob ops and file ops carry hashes, not
// bytes (a deploy may be hundreds of MiB; the backup uploads each content
// once), so applying one needs the bytes from elsewhere:
//
//  * kInline: from a BytesSource, now. Every piece is checked against the
//    SHA-256 and size the op carries (a mismatch refuses the entry: nothing
//    of it is applied); blob rows get their bytes and record files are
//    written durably under the database's files folder, all before the
//    entry's COMMIT. Files the entry lets go are removed after its COMMIT.
//  * kDeferred: blob rows are made with zeroed bytes of the right size and
//    every byte op is listed (PendingBytes), nothing is fetched or removed:
//    restore fetches what is left at the end, once, in a bytes phase.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/entry.h"

namespace hearth::store {

class BytesSource {
 public:
  virtual ~BytesSource() = default;
  // Blob `hash` (lower-case hex), the original ("") or a stored variant.
  virtual Result<std::string> Blob(std::string_view hash, std::string_view encoding) = 0;
  // Record file `path` ("<collection>/<record>/<name>") of the site whose
  // app database is `database` ("apps/<file>.db").
  virtual Result<std::string> File(std::string_view database, std::string_view path) = 0;
};

// Reads another data folder, as a server left it: blobs from its hearth.db
// (opened read-only on first use), record files from its files/ folder.
std::shared_ptr<BytesSource> DataFolderBytes(std::string data_dir);

// One byte op of an entry applied with deferred bytes.
struct PendingBytes {
  uint64_t index = 0;  // the entry's
  OpKind kind = OpKind::kBlobPut;
  std::string hash;      // blob ops: hex
  std::string encoding;  // blob ops
  std::string path;      // file ops (a collection for file-delete-tree)
  uint64_t size = 0;     // puts
  std::string sha256;    // puts: raw
};

struct ApplyOptions {
  enum class Bytes { kInline, kDeferred };
  Bytes bytes = Bytes::kInline;
  std::shared_ptr<BytesSource> source;  // kInline
  // Where this database's record files live (DATA/files/<site>); "" when it
  // has none (hearth.db): a file op is then refused.
  std::string files_root;
  // kDeferred: the byte ops of each applied entry are appended here once it
  // committed.
  std::shared_ptr<std::vector<PendingBytes>> deferred;
};

// The files folder of an app database's site: "apps/x.db" -> "files/x".
std::string FilesFolderOf(std::string_view database);

// For Store's apply (store/apply.cpp): one byte op inside the entry's
// transaction, and what is left for after its COMMIT.
class Connection;
struct ByteOpsAfterCommit {
  std::vector<std::string> remove_files;  // full paths
  std::vector<std::string> remove_trees;  // full paths
  std::vector<PendingBytes> pending;      // kDeferred
};
Status ApplyByteOp(Connection& c, const EntryView& e, const EntryOp& op,
                   const ApplyOptions& options, const std::string& where,
                   ByteOpsAfterCommit* after);
void FinishByteOps(ByteOpsAfterCommit* after, const ApplyOptions& options);

}  // namespace hearth::store

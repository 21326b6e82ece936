#pragma once
// File fields: the files a record holds, kept as plain files under the data
// folder (DATA/files/<site>/<collectionId>/<recordId>/<name>), named so that
// a stored name is never a path and never collides.
//
// A record's file field holds stored names only ("photo_k3j9x0a1bq.png"):
// names come from uploads (StoredFileName) or from the record's own current
// value, never from a client, so a name read back from a record is always
// safe to join to the record's folder.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "data/schema.h"

namespace hearth::data {

// Default largest file a field takes (PocketBase's default: 5 MiB).
constexpr uint64_t kDefaultMaxFileSize = 5ull << 20;

// "My Photo.PNG" -> "my_photo_k3j9x0a1bq.png": a cleaned stem (letters,
// digits, _ and -; at most 100), "_", 10 random characters, a lower-case
// extension of at most 20 letters and digits.
std::string StoredFileName(std::string_view original);
// Whether `name` could have come from StoredFileName: one path segment,
// no dot-leading name, only [A-Za-z0-9_.-].
bool IsStoredFileName(std::string_view name);
// The media type of a file, from its first bytes (images, PDF, archives,
// audio and video signatures) or, for text, from its extension; otherwise
// application/octet-stream.
std::string SniffMime(std::string_view name, std::string_view head);

// One uploaded file of a multipart request, for a file field.
struct Upload {
  enum class Mode { kSet, kAppend, kPrepend };  // "f", "f+", "+f"
  std::string field;
  Mode mode = Mode::kSet;
  std::string original;   // the client's file name
  std::string_view data;  // into the request's body (kept alive by the caller)
  std::string stored;     // StoredFileName(original)
  std::string mime;
};

// What a write asks of one file field: uploads to add, names to keep (the
// field sent as a value: "" or [] clears it; existing names keep those) and
// names to remove ("f-").
struct FileOp {
  const Field* field = nullptr;
  std::optional<std::vector<std::string>> keep;
  std::vector<std::string> set, append, prepend, remove;
};

// Reads a request body's file keys for collection `c` ("f", "f-" values and
// uploads), removing them from `body` so the rest is checked as plain fields.
// Checks each upload's size and type against its field; problems go into
// *errors per field, as CheckRecord reports them.
std::vector<FileOp> TakeFileOps(const Collection& c, nlohmann::json* body,
                                std::vector<Upload>* uploads, nlohmann::json* errors);

// A field's new list of names from its current one and `op`. Kept and removed
// names must be current ones; the result must fit maxSelect and, if the field
// is required, not be empty. Problems go into *errors.
std::vector<std::string> ApplyFileOp(const FileOp& op, const std::vector<std::string>& current,
                                     nlohmann::json* errors);

// The names a stored file field value holds ("" / "name" / ["a","b"]).
std::vector<std::string> FileNames(const nlohmann::json& value);

// A record file as written: the change stream names its bytes by these.
struct StoredFile {
  uint64_t size = 0;
  std::string sha256;  // raw, 32 bytes
};

// The folder of one site's record files.
class RecordFiles {
 public:
  explicit RecordFiles(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }
  std::string PathOf(std::string_view collection_id, std::string_view record_id,
                     std::string_view name) const;
  // Writes a file durably (store/durable_file.h), so that once a record
  // naming it commits, the file survives a crash too. Gives its size and
  // SHA-256, which the write's file-put op carries.
  Result<StoredFile> Write(std::string_view collection_id, std::string_view record_id,
                           std::string_view name, std::string_view data) const;
  // Best effort: what is left behind is unreferenced and harmless.
  void Remove(std::string_view collection_id, std::string_view record_id,
              const std::vector<std::string>& names) const;
  void RemoveRecord(std::string_view collection_id, std::string_view record_id) const;
  void RemoveCollection(std::string_view collection_id) const;

 private:
  std::string root_;
};

}  // namespace hearth::data

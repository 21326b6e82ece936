#pragma once
// file:///path as an object store: each key is a file under the root. A put
// writes a temporary file beside the target, fsyncs it, renames it over the
// key and fsyncs the folder, so a crash leaves the old object or the new
// one, never half of one; leftover temporaries (".hearth-tmp-*") are never
// listed. Keys pass CheckKey, so none reaches outside the root.
#include <string>

#include "s3/object_store.h"

namespace hearth::s3 {

class LocalDirStore : public ObjectStore {
 public:
  explicit LocalDirStore(std::string root) : root_(std::move(root)) {}

  Status Put(std::string_view key, std::string_view bytes) override;
  Status PutFile(std::string_view key, const std::string& path) override;
  Result<std::string> Get(std::string_view key) override;
  Status GetToFile(std::string_view key, const std::string& path) override;
  Result<std::optional<ObjectInfo>> Head(std::string_view key) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  std::string Describe() const override { return "file://" + root_; }

 private:
  Result<std::string> PathOf(std::string_view key) const;
  std::string root_;
};

}  // namespace hearth::s3

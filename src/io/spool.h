#pragma once
// Spool: bytes that arrive in pieces (a request body) and are read back later,
// held in memory up to a bound and past it in an unnamed temporary file, so
// a large body costs disk, not memory. The file has no name: it vanishes when
// the Spool goes, even after a crash. Appends come from one thread; once
// writing is done, reads may come from any thread.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hearth {

class Spool {
 public:
  // `dir`: where the temporary file goes (a folder on a disk, not tmpfs,
  // for large bodies). `memory_limit`: bytes kept in memory before spilling.
  explicit Spool(std::string dir, size_t memory_limit = 256 * 1024);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  Status Append(std::string_view bytes);
  uint64_t size() const { return size_; }
  bool in_memory() const { return fd_ < 0; }
  // Copies [offset, offset + n) into `out`; the range must be within size().
  Status ReadAt(uint64_t offset, char* out, size_t n) const;
  // Everything, in one string (for small spools, or work that needs it whole).
  Result<std::string> ReadAll() const;

 private:
  Status Spill();

  std::string dir_;
  size_t memory_limit_;
  std::string memory_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

}  // namespace hearth

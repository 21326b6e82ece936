// Fuzzes what restore reads from a backup target, which anyone with write
// access to the bucket controls: segment objects (zstd, then header, entries
// and trailer), manifests, generation records and listing names. Any bytes
// must end in a value or an error, within bounds (a zstd bomb stops at the
// limit); an opened segment's entries are contiguous and decode.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "stream/backup_view.h"
#include "stream/remote.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hearth::stream;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto seg = OpenSegment(in);
  if (seg.ok()) {
    uint64_t want = seg->info.first;
    for (auto e : seg->entries) {
      auto v = hearth::store::DecodeEntry(e);
      if (!v.ok() || v->index != want++) __builtin_trap();
    }
    if (want != seg->info.last + 1) __builtin_trap();
  }
  // The same bytes as an uncompressed segment body, so the checks past zstd
  // are reached without the fuzzer having to learn zstd.
  auto packed = Compress(in, 1);
  if (packed.ok()) (void)OpenSegment(*packed);
  (void)DecodeManifest(in);
  (void)DecodeGenerationRecord(in);
  (void)ParseGenerationName(in);
  (void)ParseSegmentFileName(0, in);
  // A listing of keys cut from the input: reading and planning never fail
  // badly, whatever the names.
  std::vector<hearth::s3::ObjectInfo> objects;
  size_t start = 0;
  for (size_t i = 0; i <= in.size() && objects.size() < 64; ++i)
    if (i == in.size() || in[i] == '\n') {
      objects.push_back({std::string(in.substr(start, i - start)), 1, ""});
      start = i + 1;
    }
  BackupView view = ReadListing(objects);
  auto begin = ChooseStart(view, {});
  if (begin.ok()) (void)PlanSegments(*begin->generation, begin->snapshot.index, {});
  return 0;
}

#pragma once
// CRC32C (Castagnoli, the iSCSI polynomial 0x1EDC6F41, reflected): the checksum
// the change stream's entries carry (store/entry.h). Chosen over CRC32 for its
// better error detection on long messages and because storage formats that
// the cluster and backups may sit beside (ext4, iSCSI, LevelDB) use it too.
// Portable slicing-by-8 on tables built at compile time (eight bytes per step,
// no CPU-specific instructions); an SSE4.2 path can come later if a profile
// ever shows the checksum, the codec's callers do not depend on which runs.
#include <cstdint>
#include <string_view>

namespace hearth {

// The CRC32C of `data`. Pass a previous result as `crc` to continue it over
// more bytes: Crc32c(b, Crc32c(a)) == Crc32c(a + b).
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace hearth

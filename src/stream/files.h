#pragma once
// Small files of the local log written whole and durably (the generation
// record, the broken marker) and the helpers the log's files share. Internal
// to src/stream.
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace hearth::stream {

// `what` + ": " + strerror(errno).
std::string Errno(const std::string& what);
// 16 lower-case hex digits.
std::string Hex16(uint64_t v);
// Hex16's inverse: exactly 16 lower-case hex digits, else false.
bool ParseHex16(std::string_view s, uint64_t* out);
// A random non-zero id (getrandom).
uint64_t RandomId();
// fsync of a file or folder by path.
Status FsyncPath(const std::string& path);
// tmp, fsync, rename, fsync of the folder: after a power loss the file is the
// old one or the new one, never a mix.
Status WriteFileDurably(const std::string& dir, const std::string& name, const std::string& text);
// A file of at most 64 KiB (more is cut off); `missing` says ENOENT.
Result<std::string> ReadSmallFile(const std::string& path, bool* missing);

}  // namespace hearth::stream

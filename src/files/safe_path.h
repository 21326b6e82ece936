#pragma once
// Turning a request path into a file under a root, with no way out of it.
//
// Invariants (each one is tested):
//  1. The result never names anything outside the root: dot segments are
//     refused before any lookup, and the lookup itself (openat2 with
//     RESOLVE_BENEATH, or realpath with a prefix check) refuses symlinks that
//     lead out.
//  2. Encoded slashes and backslashes (%2F, %5C), NUL (%00), malformed
//     percent escapes are refused: they mean different things to different
//     layers, so nothing good comes from accepting them.
#include <string>
#include <string_view>

#include "base/result.h"

namespace hearth {

enum class PathError { kNone, kBadEncoding, kTraversal, kHidden };

// Decodes a percent-encoded request path ("/a%20b/c.txt") into a relative
// path ("a b/c.txt"). Refuses what invariant 2 lists, and "." / ".." segments.
// Segments starting with '.' other than ".well-known" are kHidden (dotfiles
// such as .git or .env are never served).
PathError DecodeRequestPath(std::string_view path, std::string* relative);

// Opens `relative` beneath the directory `root_fd` (O_RDONLY). Returns the fd,
// or -errno (-ENOENT, -EXDEV for a symlink leading out, -EACCES, ...).
int OpenBeneath(int root_fd, const std::string& root_real, const std::string& relative);

}  // namespace hearth

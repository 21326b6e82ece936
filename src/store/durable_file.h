#pragma once
// Files that must survive a crash once a transaction naming them commits:
// record files (data/files.cpp) and the bytes an applied entry brings
// (store/apply_bytes.cpp). Written to a temporary name, fsynced, renamed into
// place, and the folder (and every folder it had to create) fsynced, so after
// a power loss the file is whole or absent, never half written.
#include <string>
#include <string_view>

#include "base/result.h"

namespace hearth::store {

// Writes `data` to `path`, creating its folders. A file already there is
// replaced.
Status WriteFileDurably(const std::string& path, std::string_view data);

// Removes `path` (best effort) and then its folder if that is left empty.
void RemoveFileAndEmptyFolder(const std::string& path);

}  // namespace hearth::store

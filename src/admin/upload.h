#pragma once
// The console's "deploy a folder": GET /_hearth/sites/{site}/upload shows
// the form; it posts (multipart/form-data, one part per file, named by the
// file's path in the folder) to /_hearth/upload/{site}, a route that takes
// its body as it arrives: each file is hashed and spooled on the way in (to
// a temporary file past 256 KiB), so a folder of any size holds a bounded
// amount of memory. Then the folder is deployed as a new live version and
// the steps are streamed into the answer page.
#include <cstdint>
#include <string>
#include <vector>

#include "admin/common.h"

namespace hearth::admin {

struct UploadFile {
  std::string path;               // as sent ("dist/css/a.css"), then as deployed ("css/a.css")
  std::string hash;               // hex SHA-256
  uint64_t offset = 0, size = 0;  // its bytes in the upload's spool
};

void UploadForm(PageContext& ctx, const std::string& site);

// The files as the site will have them: the folder's own name taken off
// every path when they all start with it; empty parts dropped. *error is
// set when nothing is left.
std::vector<UploadFile> FolderFiles(std::vector<UploadFile> parts, std::string* error);

// POST /_hearth/upload/{site} (a streamed body; the session is checked, the
// CSRF token must be the form's first part, before any file is taken).
// Deploys the folder (see the file comment in upload.cpp for the steps).
void StreamFolderUpload(PageContext& ctx, const std::string& site);

}  // namespace hearth::admin

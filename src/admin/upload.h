#pragma once
// The console's "deploy a folder": GET /_hearth/sites/{site}/upload shows
// the form; its POST (multipart/form-data, one part per file, named by the
// file's path in the folder) deploys the folder as a new live version and
// streams the steps into the answer page.
#include <string>
#include <vector>

#include "admin/common.h"

namespace hearth::admin {

struct UploadFile {
  std::string path;  // as sent ("dist/css/a.css"), then as deployed ("css/a.css")
  std::string data;
  std::string hash;  // hex SHA-256, filled by UploadFolder
};

void UploadForm(PageContext& ctx, const std::string& site);

// The files as the site will have them: the folder's own name taken off
// every path when they all start with it; empty parts dropped. *error is
// set when nothing is left.
std::vector<UploadFile> FolderFiles(const std::vector<UploadFile>& parts, std::string* error);

// Deploys `files` (see the file comment in upload.cpp for the steps).
void UploadFolder(PageContext& ctx, const std::string& site, const std::string& message, std::vector<UploadFile> files);

}  // namespace hearth::admin

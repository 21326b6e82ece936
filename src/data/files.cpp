#include "data/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "base/strings.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "http/mime.h"
#include "store/durable_file.h"

namespace hearth::data {

using nlohmann::json;

namespace {

bool SafeChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string RandomSuffix() {
  return crypto::RandomChars(10);
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

bool StartsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

std::string Extension(std::string_view name) {
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return {};
  std::string ext;
  for (char c : name.substr(dot + 1)) ext.push_back(AsciiLower(c));
  return ext;
}

void AddError(json* errors, const std::string& key, const char* code, const std::string& message) {
  if (!errors->contains(key)) (*errors)[key] = {{"code", code}, {"message", message}};
}

// Strings of a "names" value: a string or a list of strings ("" and [] are none).
std::optional<std::vector<std::string>> NameList(const json& v) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (v.is_string()) {
    if (!v.get<std::string>().empty()) out.push_back(v.get<std::string>());
    return out;
  }
  if (!v.is_array()) return std::nullopt;
  for (const json& item : v) {
    if (!item.is_string()) return std::nullopt;
    if (!item.get<std::string>().empty()) out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

std::string StoredFileName(std::string_view original) {
  // Browsers may send a path ("C:\\x\\y.png"); only the last part counts.
  size_t cut = original.find_last_of("/\\");
  if (cut != std::string_view::npos) original.remove_prefix(cut + 1);
  std::string ext = Extension(original);
  std::string_view stem = original.substr(0, original.size() - (ext.empty() ? 0 : ext.size() + 1));
  if (ext.size() > 20 || !std::all_of(ext.begin(), ext.end(),
                                      [](char c) { return SafeChar(c) && c != '_' && c != '-'; }))
    ext.clear();
  std::string clean;
  for (char c : stem) {
    if (clean.size() >= 100) break;
    char l = AsciiLower(c);
    clean.push_back(SafeChar(l) ? l : '_');
  }
  while (!clean.empty() && clean.back() == '_') clean.pop_back();
  // Not "-rf": a name never starts like a command-line option.
  while (!clean.empty() && (clean.front() == '_' || clean.front() == '-'))
    clean.erase(clean.begin());
  if (clean.empty()) clean = "file";
  return clean + "_" + RandomSuffix() + (ext.empty() ? "" : "." + ext);
}

bool IsStoredFileName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name[0] == '.' || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return SafeChar(c) || c == '.'; });
}

std::string SniffMime(std::string_view name, std::string_view head) {
  struct Magic {
    std::string_view bytes;
    size_t at;
    const char* mime;
  };
  static const Magic kMagic[] = {
      {"\x89PNG\r\n\x1a\n", 0, "image/png"},
      {"\xff\xd8\xff", 0, "image/jpeg"},
      {"GIF87a", 0, "image/gif"},
      {"GIF89a", 0, "image/gif"},
      {"%PDF-", 0, "application/pdf"},
      {"PK\x03\x04", 0, "application/zip"},
      {"\x1f\x8b", 0, "application/gzip"},
      {"OggS", 0, "audio/ogg"},
      {"ID3", 0, "audio/mpeg"},
      {"fLaC", 0, "audio/flac"},
      {"\x1a\x45\xdf\xa3", 0, "video/webm"},
      {"ftyp", 4, "video/mp4"},
      {"BM", 0, "image/bmp"},
      {std::string_view("\0\0\1\0", 4), 0, "image/x-icon"},
      {"wOF2", 0, "font/woff2"},
      {"wOFF", 0, "font/woff"},
      {"\x7f"
       "ELF",
       0, "application/x-elf"},
  };
  if (head.size() >= 12 && StartsWith(head, "RIFF")) {
    std::string_view kind = head.substr(8, 4);
    if (kind == "WEBP") return "image/webp";
    if (kind == "WAVE") return "audio/wav";
    if (kind == "AVI ") return "video/x-msvideo";
  }
  if (head.size() >= 12 && head.substr(4, 4) == "ftyp") {
    std::string_view brand = head.substr(8, 4);
    if (brand == "avif") return "image/avif";
    if (brand == "heic" || brand == "heix") return "image/heic";
    if (brand == "qt  ") return "video/quicktime";
    if (brand == "M4A ") return "audio/mp4";
  }
  for (const auto& m : kMagic) {
    if (head.size() < m.at + m.bytes.size() || head.substr(m.at, m.bytes.size()) != m.bytes)
      continue;
    if (std::string_view(m.mime) == "application/zip") {
      // Office documents, EPUB, JAR are zip files: their extension names the kind.
      std::string_view by_ext = MimeTypeForPath("x." + Extension(name));
      if (by_ext.substr(0, 24) != "application/octet-stream" && by_ext.substr(0, 5) != "text/")
        return std::string(by_ext);
    }
    return m.mime;
  }
  // Otherwise: text (UTF-8, no NUL) takes its extension's type only if that
  // is a text type (a page named .png stays text/plain); anything else takes
  // its extension's type only if that is not text (an MP3 without ID3 is
  // audio/mpeg), else application/octet-stream.
  std::string by_ext;
  if (std::string ext = Extension(name); !ext.empty()) {
    std::string m(MimeTypeForPath("x." + ext));
    if (size_t semi = m.find(';'); semi != std::string::npos) m.resize(semi);
    if (m != "application/octet-stream") by_ext = m;
  }
  bool textual = by_ext.rfind("text/", 0) == 0 || by_ext == "application/json" ||
                 by_ext == "image/svg+xml" || by_ext == "application/xml" ||
                 by_ext == "application/javascript";
  bool text = !head.empty() && head.find('\0') == std::string_view::npos;
  // UTF-8 check (a multi-byte sequence cut at the end of `head` is allowed).
  for (size_t i = 0; text && i < head.size();) {
    unsigned char b = static_cast<unsigned char>(head[i]);
    size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (len == 0) text = false;
    for (size_t k = 1; text && k < len && i + k < head.size(); ++k)
      if ((static_cast<unsigned char>(head[i + k]) >> 6) != 2) text = false;
    i += len ? len : 1;
  }
  if (text) return textual ? by_ext : "text/plain";
  if (!by_ext.empty() && !textual) return by_ext;
  return "application/octet-stream";
}

std::vector<FileOp> TakeFileOps(const Collection& c, json* body, std::vector<Upload>* uploads,
                                json* errors) {
  std::vector<FileOp> ops;
  for (const Field& f : c.fields) {
    if (f.type != FieldType::kFile) continue;
    FileOp op;
    op.field = &f;
    bool touched = false;
    if (auto it = body->find(f.name); it != body->end()) {
      auto names = NameList(*it);
      if (!names)
        AddError(errors, f.name, "validation_invalid_value", "Must be file names or files.");
      else
        op.keep = std::move(*names);
      body->erase(it);
      touched = true;
    }
    if (auto it = body->find(f.name + "-"); it != body->end()) {
      auto names = NameList(*it);
      if (!names)
        AddError(errors, f.name, "validation_invalid_value", "Must be file names.");
      else
        op.remove = std::move(*names);
      body->erase(it);
      touched = true;
    }
    size_t count = 0;
    for (const Upload& u : *uploads) count += u.field == f.name;
    if (f.Multi() && count > static_cast<size_t>(f.max_select)) {
      AddError(errors, f.name, "validation_too_many_files",
               "Must have at most " + std::to_string(f.max_select) + " file(s).");
      body->erase(f.name);
      continue;
    }
    size_t seen = 0;
    for (Upload& u : *uploads) {
      if (u.field != f.name) continue;
      touched = true;
      // A single-file field keeps the last file sent, as PocketBase does.
      if (!f.Multi() && ++seen < count) continue;
      if (u.data.size() > f.max_size) {
        AddError(errors, f.name, "validation_file_size_limit",
                 "Failed to upload \"" + u.original + "\" - the maximum allowed file size is " +
                     std::to_string(f.max_size) + " bytes.");
        continue;
      }
      u.mime = SniffMime(u.original, u.data.substr(0, 512));
      if (!f.mime_types.empty() &&
          std::find(f.mime_types.begin(), f.mime_types.end(), u.mime) == f.mime_types.end()) {
        AddError(errors, f.name, "validation_invalid_mime_type",
                 "\"" + u.original + "\" has type " + u.mime +
                     "; allowed: " + JoinNames(f.mime_types) + ".");
        continue;
      }
      u.stored = StoredFileName(u.original);
      (u.mode == Upload::Mode::kSet      ? op.set
       : u.mode == Upload::Mode::kAppend ? op.append
                                         : op.prepend)
          .push_back(u.stored);
    }
    if (touched) ops.push_back(std::move(op));
  }
  for (const Upload& u : *uploads) {
    const Field* f = c.Find(u.field);
    if (!f || f->type != FieldType::kFile)
      AddError(errors, u.field, "validation_unknown_field", "Not a file field.");
  }
  return ops;
}

std::vector<std::string> ApplyFileOp(const FileOp& op, const std::vector<std::string>& current,
                                     json* errors) {
  const Field& f = *op.field;
  auto is_current = [&](const std::string& n) {
    return std::find(current.begin(), current.end(), n) != current.end();
  };
  std::vector<std::string> out;
  if (op.keep) {
    for (const auto& n : *op.keep) {
      if (!is_current(n)) {
        AddError(errors, f.name, "validation_invalid_value",
                 "\"" + n + "\" is not one of the record's files.");
        return current;
      }
      if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
    }
  } else if (op.set.empty()) {
    out = current;
  }
  // Files sent under the field's own name replace what was there (but not
  // names also sent as values: those are kept beside them).
  out.insert(out.end(), op.set.begin(), op.set.end());
  out.insert(out.begin(), op.prepend.begin(), op.prepend.end());
  out.insert(out.end(), op.append.begin(), op.append.end());
  for (const auto& n : op.remove) {
    if (!is_current(n)) {
      AddError(errors, f.name, "validation_invalid_value",
               "\"" + n + "\" is not one of the record's files.");
      return current;
    }
    out.erase(std::remove(out.begin(), out.end(), n), out.end());
  }
  if (!f.Multi() && out.size() > 1)
    out.erase(out.begin(), out.end() - 1);  // a new file replaces the old
  if (static_cast<int>(out.size()) > f.max_select) {
    AddError(errors, f.name, "validation_too_many_files",
             "Must have at most " + std::to_string(f.max_select) + " file(s).");
    return current;
  }
  if (out.empty() && f.required)
    AddError(errors, f.name, "validation_required", "Cannot be blank.");
  return out;
}

std::vector<std::string> FileNames(const json& value) {
  std::vector<std::string> out;
  if (value.is_string()) {
    if (!value.get<std::string>().empty()) out.push_back(value.get<std::string>());
  } else if (value.is_array()) {
    for (const json& v : value)
      if (v.is_string() && !v.get<std::string>().empty()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::string RecordFiles::PathOf(std::string_view collection_id, std::string_view record_id,
                                std::string_view name) const {
  std::string p = root_;
  p.append("/").append(collection_id).append("/").append(record_id).append("/").append(name);
  return p;
}

Result<StoredFile> RecordFiles::Write(std::string_view collection_id, std::string_view record_id,
                                      std::string_view name, std::string_view data) const {
  if (!IsStoredFileName(name) || !IsStoredFileName(collection_id) || !IsStoredFileName(record_id))
    return Error{"unsafe file name"};
  if (Status st = store::WriteFileDurably(PathOf(collection_id, record_id, name), data); !st.ok())
    return st.error();
  return StoredFile{data.size(), crypto::Sha256Digest(data)};
}

void RecordFiles::Remove(std::string_view collection_id, std::string_view record_id,
                         const std::vector<std::string>& names) const {
  for (const auto& n : names)
    if (IsStoredFileName(n)) unlink(PathOf(collection_id, record_id, n).c_str());
  // The record's folder goes once empty (rmdir refuses a folder with files).
  if (IsStoredFileName(collection_id) && IsStoredFileName(record_id))
    rmdir((root_ + "/" + std::string(collection_id) + "/" + std::string(record_id)).c_str());
}

void RecordFiles::RemoveRecord(std::string_view collection_id, std::string_view record_id) const {
  if (!IsStoredFileName(collection_id) || !IsStoredFileName(record_id)) return;
  std::error_code ec;
  std::filesystem::remove_all(
      root_ + "/" + std::string(collection_id) + "/" + std::string(record_id), ec);
}

void RecordFiles::RemoveCollection(std::string_view collection_id) const {
  if (!IsStoredFileName(collection_id)) return;
  std::error_code ec;
  std::filesystem::remove_all(root_ + "/" + std::string(collection_id), ec);
}

}  // namespace hearth::data

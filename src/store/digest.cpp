#include "store/digest.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "crypto/hash.h"

namespace hearth::store {
namespace {

std::string QuoteIdent(const std::string& name) {
  std::string out = "\"";
  for (char ch : name) {
    if (ch == '"') out.push_back('"');
    out.push_back(ch);
  }
  return out + "\"";
}

// Length-prefixed, so no two different sequences of fields hash alike.
void Field(crypto::Sha256& h, char tag, std::string_view bytes) {
  std::string head(1, tag);
  uint64_t n = bytes.size();
  for (int i = 0; i < 8; ++i) head.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  h.Update(head);
  h.Update(bytes);
}

}  // namespace

Result<std::string> Digest(Connection& c) {
  crypto::Sha256 h;
  std::vector<std::pair<std::string, std::string>> tables;
  {
    auto q = c.Prepare(
        "SELECT name, coalesce(sql, '') FROM sqlite_schema WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite_stat%' ORDER BY name");
    if (!q.ok()) return q.error();
    Status s = OkStatus();
    while (q->Step(&s)) tables.emplace_back(std::string(q->Text(0)), std::string(q->Text(1)));
    if (!s.ok()) return s.error();
  }
  for (const auto& [name, sql] : tables) {
    Field(h, 'T', name);
    Field(h, 'S', sql);
    std::vector<std::string> order;
    {
      auto q = c.Prepare("SELECT name FROM pragma_table_xinfo(?1) WHERE pk > 0 ORDER BY pk");
      if (!q.ok()) return q.error();
      q->Bind(1, name);
      Status s = OkStatus();
      while (q->Step(&s)) order.push_back(QuoteIdent(std::string(q->Text(0))));
      if (!s.ok()) return s.error();
    }
    std::string by;
    for (const auto& col : order) by += (by.empty() ? "" : ", ") + col;
    auto rows = c.Prepare("SELECT * FROM " + QuoteIdent(name) +
                          (by.empty() ? std::string() : " ORDER BY " + by));
    if (!rows.ok()) return rows.error();
    std::vector<std::string> unordered;  // a table without a key: rows sorted as bytes
    Status s = OkStatus();
    while (rows->Step(&s)) {
      std::string row;
      for (int i = 0; i < rows->Columns(); ++i) {
        switch (sqlite3_column_type(rows->raw(), i)) {
          case SQLITE_NULL:
            row += "N";
            break;
          case SQLITE_INTEGER:
            row += "I" + std::to_string(rows->Int(i)) + ";";
            break;
          case SQLITE_FLOAT: {
            double d = rows->Real(i);
            row += "F" + std::string(reinterpret_cast<const char*>(&d), sizeof d);
            break;
          }
          case SQLITE_TEXT: {
            auto t = rows->Text(i);
            row += "X" + std::to_string(t.size()) + ":" + std::string(t);
            break;
          }
          default: {
            auto b = rows->Blob(i);
            row += "B" + std::to_string(b.size()) + ":" + std::string(b);
            break;
          }
        }
      }
      if (by.empty())
        unordered.push_back(std::move(row));
      else
        Field(h, 'R', row);
    }
    if (!s.ok()) return s.error();
    std::sort(unordered.begin(), unordered.end());
    for (const auto& row : unordered) Field(h, 'R', row);
  }
  return h.HexDigest();
}

Result<std::string> DigestFiles(const std::string& root) {
  namespace fs = std::filesystem;
  std::vector<std::string> paths;
  std::error_code ec;
  if (fs::exists(root, ec)) {
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->path().filename().string().rfind('.', 0) == 0) continue;
      if (it->is_regular_file(ec)) paths.push_back(fs::relative(it->path(), root, ec).string());
    }
    if (ec) return Error{"cannot list " + root + ": " + ec.message()};
  }
  std::sort(paths.begin(), paths.end());
  crypto::Sha256 h;
  for (const std::string& rel : paths) {
    std::ifstream in(root + "/" + rel, std::ios::binary);
    if (!in) return Error{"cannot read " + root + "/" + rel};
    crypto::Sha256 file;
    uint64_t size = 0;
    char buf[64 * 1024];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      file.Update(std::string_view(buf, static_cast<size_t>(in.gcount())));
      size += static_cast<uint64_t>(in.gcount());
    }
    Field(h, 'P', rel);
    Field(h, 'Z', std::to_string(size));
    Field(h, 'H', file.HexDigest());
  }
  return h.HexDigest();
}

}  // namespace hearth::store

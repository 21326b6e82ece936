// A collection as SQL: the CREATE TABLE of a new one, and the ALTER TABLEs
// that turn one definition into the next.
#include "data/schema.h"

namespace hearth::data {

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

namespace {
std::string ColumnSql(const Field& f) {
  std::string col = QuoteIdent(f.name) + " ";
  if (f.Multi()) return col + "JSON NOT NULL DEFAULT '[]'";
  switch (f.type) {
    case FieldType::kNumber:
      return col + "NUMERIC NOT NULL DEFAULT 0";
    case FieldType::kBool:
      return col + "BOOLEAN NOT NULL DEFAULT FALSE";
    case FieldType::kJson:
      return col + "JSON DEFAULT NULL";
    default:
      return col + "TEXT NOT NULL DEFAULT ''";
  }
}
}  // namespace

std::string CreateTableSql(const Collection& c) {
  std::string sql = "CREATE TABLE " + QuoteIdent(c.name) +
                    " (\"id\" TEXT PRIMARY KEY NOT NULL, \"created\" TEXT NOT NULL DEFAULT '', "
                    "\"updated\" TEXT NOT NULL DEFAULT ''";
  if (c.IsAuth())
    sql +=
        ", \"email\" TEXT NOT NULL DEFAULT '', \"emailVisibility\" BOOLEAN NOT NULL DEFAULT FALSE, "
        "\"verified\" BOOLEAN NOT NULL DEFAULT FALSE, \"password\" TEXT NOT NULL DEFAULT '', "
        "\"tokenKey\" TEXT NOT NULL DEFAULT ''";
  for (const auto& f : c.fields) sql += ", " + ColumnSql(f);
  sql += ")";
  if (c.IsAuth())
    sql += "; CREATE UNIQUE INDEX " + QuoteIdent("_" + c.id + "_email") + " ON " +
           QuoteIdent(c.name) + " (\"email\") WHERE \"email\" != ''";
  return sql;
}

Result<std::vector<std::string>> AlterTableSql(const Collection& before, const Collection& after) {
  std::vector<std::string> out;
  for (const auto& f : before.fields) {
    const Field* now = after.Find(f.name);
    if (!now) {
      out.push_back("ALTER TABLE " + QuoteIdent(after.name) + " DROP COLUMN " + QuoteIdent(f.name));
    } else if (now->type != f.type || now->Multi() != f.Multi()) {
      return Error{"field " + f.name + " cannot change its type (remove it and add a new one)"};
    }
  }
  for (const auto& f : after.fields)
    if (!before.Find(f.name))
      out.push_back("ALTER TABLE " + QuoteIdent(after.name) + " ADD COLUMN " + ColumnSql(f));
  return out;
}

}  // namespace hearth::data

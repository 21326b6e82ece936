#include "store/control_schema.h"

namespace hearth::store {

const std::vector<Migration>& ControlMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1, R"sql(
        CREATE TABLE meta (
          key   TEXT PRIMARY KEY,
          value TEXT NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO meta(key, value) VALUES
          ('instance_id', lower(hex(randomblob(16)))),
          ('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
      )sql"},
  };
  return kMigrations;
}

const std::vector<NamedStatement>& ControlStatements() {
  static const std::vector<NamedStatement> kStatements = {
      {"meta.get", "SELECT value FROM meta WHERE key = ?1"},
      {"meta.put", "INSERT INTO meta(key, value) VALUES (?1, ?2) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value"},
  };
  return kStatements;
}

}  // namespace hearth::store

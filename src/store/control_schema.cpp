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
      {2, R"sql(
        CREATE TABLE tokens (
          id         TEXT PRIMARY KEY,           -- public id, shown in listings
          hash       TEXT NOT NULL UNIQUE,       -- hex SHA-256 of the secret
          name       TEXT NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE TABLE sites (
          id           INTEGER PRIMARY KEY,
          name         TEXT NOT NULL UNIQUE,     -- its first host name
          live_version INTEGER,                  -- versions.id; NULL until the first publish
          is_default   INTEGER NOT NULL DEFAULT 0, -- serves hosts no site claims (at most one)
          spa          INTEGER NOT NULL DEFAULT 0, -- unknown paths serve /index.html
          created_at   INTEGER NOT NULL
        );
        CREATE TABLE site_hosts (
          host    TEXT PRIMARY KEY,              -- "a.example.com" or "*.example.com"
          site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE
        );
        CREATE INDEX site_hosts_site ON site_hosts(site_id);
        CREATE TABLE blobs (
          hash       TEXT PRIMARY KEY,           -- hex SHA-256 of data
          size       INTEGER NOT NULL,
          data       BLOB NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE TABLE blob_variants (
          hash     TEXT NOT NULL,                -- blobs.hash of the original
          encoding TEXT NOT NULL,                -- "br", "zstd", "gzip"
          data     BLOB NOT NULL,
          PRIMARY KEY (hash, encoding)
        );
        CREATE TABLE versions (
          id           INTEGER PRIMARY KEY,
          site_id      INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
          state        TEXT NOT NULL CHECK (state IN ('pending', 'published', 'preview')),
          message      TEXT NOT NULL DEFAULT '',
          files        INTEGER NOT NULL,
          bytes        INTEGER NOT NULL,
          created_at   INTEGER NOT NULL,
          published_at INTEGER,
          expires_at   INTEGER                   -- previews: when they stop being served
        );
        CREATE INDEX versions_site ON versions(site_id, id);
        CREATE TABLE version_files (
          version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
          path       TEXT NOT NULL,
          hash       TEXT NOT NULL,
          size       INTEGER NOT NULL,
          PRIMARY KEY (version_id, path)
        ) WITHOUT ROWID;
        CREATE INDEX version_files_hash ON version_files(hash);
      )sql"},
      {3, R"sql(
        -- The blob's bytes move to the last column: SQLite can then insert a
        -- zeroblob(N) without allocating N bytes (only when no column after it
        -- has bytes of its own), which is how an upload is stored in pieces.
        CREATE TABLE blobs_v3 (
          hash       TEXT PRIMARY KEY,
          size       INTEGER NOT NULL,
          created_at INTEGER NOT NULL,
          data       BLOB NOT NULL             -- keep last (see above)
        );
        INSERT INTO blobs_v3(rowid, hash, size, created_at, data)
          SELECT rowid, hash, size, created_at, data FROM blobs;
        DROP TABLE blobs;
        ALTER TABLE blobs_v3 RENAME TO blobs;
      )sql"},
      {4, R"sql(
        -- TLS certificates, served by SNI. The newest one covering a host wins.
        CREATE TABLE certs (
          id         INTEGER PRIMARY KEY,
          hosts      TEXT NOT NULL,            -- JSON array of the names it covers
          cert_pem   TEXT NOT NULL,            -- the leaf, then its chain
          key_pem    TEXT NOT NULL,            -- never shown by the API
          source     TEXT NOT NULL,            -- self-signed | imported | acme
          issuer     TEXT NOT NULL,
          not_after  INTEGER NOT NULL,         -- Unix seconds
          created_at INTEGER NOT NULL
        );
        -- Strict-Transport-Security on the site's HTTPS answers.
        ALTER TABLE sites ADD COLUMN hsts INTEGER NOT NULL DEFAULT 0;
      )sql"},
      {5, R"sql(
        -- Reverse proxy: the site's upstreams and their settings (JSON, see
        -- src/proxy/upstream.h); NULL: the site serves only its files.
        ALTER TABLE sites ADD COLUMN proxy TEXT;
      )sql"},
      {6, R"sql(
        -- A site's own per-client-address rate (requests/s; 0: none) and burst.
        ALTER TABLE sites ADD COLUMN rate_limit INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE sites ADD COLUMN rate_burst INTEGER NOT NULL DEFAULT 0;
      )sql"},
      {7, R"sql(
        -- Admin console sessions (src/admin/session.h): the cookie secret's
        -- SHA-256 only, never the secret.
        CREATE TABLE admin_sessions (
          hash       TEXT PRIMARY KEY,
          csrf       TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
      )sql"},
      {8, R"sql(
        -- Admin users: log in to the console with an email and a password
        -- (an argon2id hash, never shown). A session names its user (NULL:
        -- made with an admin token); removing the user ends its sessions.
        CREATE TABLE admin_users (
          id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: an old session names no new admin
          email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
          password_hash TEXT NOT NULL,
          created_at    INTEGER NOT NULL,
          updated_at    INTEGER NOT NULL,
          last_login_at INTEGER
        );
        ALTER TABLE admin_sessions ADD COLUMN user_id INTEGER;
      )sql"},
      {9, R"sql(
        -- Token management (src/sites/token_scope.h): what a token may do,
        -- when it stops working (NULL: never) and when it was last used
        -- (written at most once a minute per token). Tokens made before
        -- this were full admins and stay so.
        ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';
        ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
        ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
        -- A console session made with a token names it: revoking the token
        -- ends the session. Sessions made with a token before this cannot
        -- say which one, so they end here (their admins log in again).
        ALTER TABLE admin_sessions ADD COLUMN token_id TEXT;
        DELETE FROM admin_sessions WHERE user_id IS NULL;
      )sql"},
  };
  return kMigrations;
}

const std::vector<NamedStatement>& ControlStatements() {
  static const std::vector<NamedStatement> kStatements = {
      {"meta.get", "SELECT value FROM meta WHERE key = ?1"},
      {"meta.put",
       "INSERT INTO meta(key, value) VALUES (?1, ?2) "
       "ON CONFLICT(key) DO UPDATE SET value = excluded.value"},
      {"tokens.count_admin",
       "SELECT count(*) FROM tokens WHERE scope = 'admin' "
       "AND (expires_at IS NULL OR expires_at > unixepoch())"},
      {"tokens.insert",
       "INSERT INTO tokens(id, hash, name, created_at, scope, expires_at) "
       "VALUES (?1, ?2, ?3, unixepoch(), coalesce(?4, 'admin'), ?5)"},
      {"tokens.by_hash", "SELECT id, name, scope, expires_at FROM tokens WHERE hash = ?1"},
      {"tokens.list",
       "SELECT id, name, scope, created_at, expires_at, last_used_at FROM tokens ORDER BY "
       "created_at, id"},
      {"tokens.one",
       "SELECT id, name, scope, created_at, expires_at, last_used_at FROM tokens WHERE id = ?1"},
      {"tokens.delete", "DELETE FROM tokens WHERE id = ?1"},
      {"tokens.end_sessions", "DELETE FROM admin_sessions WHERE token_id = ?1"},
      {"tokens.used", "UPDATE tokens SET last_used_at = ?2 WHERE id = ?1"},
      // A deploy token's reach: the site of a deploy, of a blob a pending deploy awaits.
      {"tokens.version_site",
       "SELECT s.name FROM versions v JOIN sites s ON s.id = v.site_id WHERE v.id = ?1"},
      {"tokens.blob_wanted_by",
       "SELECT 1 FROM version_files f JOIN versions v ON v.id = f.version_id "
       "JOIN sites s ON s.id = v.site_id "
       "WHERE f.hash = ?1 AND v.state = 'pending' AND s.name = ?2 LIMIT 1"},
      {"admins.list",
       "SELECT email, created_at, updated_at, last_login_at FROM admin_users ORDER BY email"},
      {"admins.one",
       "SELECT email, created_at, updated_at, last_login_at FROM admin_users WHERE email = ?1"},
      {"admins.count", "SELECT count(*) FROM admin_users"},
      {"admins.by_email", "SELECT id, email, password_hash FROM admin_users WHERE email = ?1"},
      {"admins.insert",
       "INSERT INTO admin_users(email, password_hash, created_at, updated_at) "
       "VALUES (?1, ?2, unixepoch(), unixepoch()) ON CONFLICT(email) DO NOTHING"},
      {"admins.set_password",
       "UPDATE admin_users SET password_hash = ?2, updated_at = unixepoch() WHERE email = ?1"},
      {"admins.logged_in",
       "UPDATE admin_users SET last_login_at = unixepoch() WHERE id = ?1 AND password_hash = ?2"},
      {"admins.delete", "DELETE FROM admin_users WHERE email = ?1"},
      {"admins.end_sessions",
       "DELETE FROM admin_sessions WHERE user_id = "
       "(SELECT id FROM admin_users WHERE email = ?1)"},
      {"sites.list",
       "SELECT s.id, s.name, s.live_version, s.created_at, "
       "(SELECT group_concat(host, ' ') FROM site_hosts h WHERE h.site_id = s.id), "
       "s.is_default, s.spa, s.hsts, s.proxy, s.rate_limit, s.rate_burst FROM sites s ORDER BY "
       "s.name"},
      {"sites.set_rate",
       "UPDATE sites SET rate_limit = coalesce(?2, rate_limit), rate_burst = coalesce(?3, "
       "rate_burst) "
       "WHERE id = ?1"},
      {"sites.set_proxy", "UPDATE sites SET proxy = ?2 WHERE id = ?1"},
      {"sites.set_flags",
       "UPDATE sites SET spa = coalesce(?2, spa), is_default = coalesce(?3, is_default) "
       "WHERE id = ?1"},
      {"certs.list",
       "SELECT id, hosts, source, issuer, not_after, created_at FROM certs ORDER BY id"},
      {"certs.all", "SELECT id, cert_pem, key_pem FROM certs ORDER BY id"},
      {"certs.one",
       "SELECT id, hosts, source, issuer, not_after, created_at, cert_pem FROM certs WHERE id = "
       "?1"},
      {"certs.insert",
       "INSERT INTO certs(hosts, cert_pem, key_pem, source, issuer, not_after, created_at) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, unixepoch())"},
      {"certs.delete", "DELETE FROM certs WHERE id = ?1"},
      {"sites.set_hsts", "UPDATE sites SET hsts = ?2 WHERE id = ?1"},
      {"sites.clear_default", "UPDATE sites SET is_default = 0 WHERE is_default = 1 AND id != ?1"},
      {"sites.default",
       "SELECT id, live_version, spa, name, hsts, proxy, rate_limit, rate_burst FROM sites "
       "WHERE is_default = 1"},
      {"sites.by_name", "SELECT id, live_version FROM sites WHERE name = ?1"},
      {"sites.insert", "INSERT INTO sites(name, created_at) VALUES (?1, unixepoch())"},
      {"sites.delete", "DELETE FROM sites WHERE id = ?1"},
      {"sites.set_live", "UPDATE sites SET live_version = ?2 WHERE id = ?1"},
      {"hosts.insert", "INSERT INTO site_hosts(host, site_id) VALUES (?1, ?2)"},
      {"hosts.lookup",
       "SELECT h.site_id, s.live_version, s.spa, s.name, s.hsts, s.proxy, s.rate_limit, "
       "s.rate_burst "
       "FROM site_hosts h "
       "JOIN sites s ON s.id = h.site_id WHERE h.host = ?1"},
      {"blobs.has", "SELECT 1 FROM blobs WHERE hash = ?1"},
      {"blobs.get", "SELECT data FROM blobs WHERE hash = ?1"},
      {"blobs.rowid", "SELECT rowid FROM blobs WHERE hash = ?1"},
      {"versions.insert",
       "INSERT INTO versions(site_id, state, message, files, bytes, created_at) "
       "VALUES (?1, 'pending', ?2, ?3, ?4, unixepoch())"},
      {"versions.get", "SELECT site_id, state, expires_at FROM versions WHERE id = ?1"},
      {"versions.preview",
       "UPDATE versions SET state = 'preview', published_at = unixepoch(), "
       "expires_at = unixepoch() + ?2 WHERE id = ?1"},
      {"versions.expired_previews",
       "SELECT id FROM versions WHERE site_id = ?1 AND "
       "((state = 'preview' AND expires_at <= unixepoch()) OR "
       "(state = 'pending' AND created_at <= unixepoch() - 86400))"},
      {"versions.publish",
       "UPDATE versions SET state = 'published', published_at = unixepoch() WHERE id = ?1"},
      {"versions.list",
       "SELECT id, state, message, files, bytes, created_at, published_at FROM versions "
       "WHERE site_id = ?1 AND state = 'published' ORDER BY id DESC"},
      {"versions.missing",
       "SELECT DISTINCT f.hash FROM version_files f "
       "WHERE f.version_id = ?1 AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = f.hash)"},
      {"versions.expired",
       "SELECT id FROM versions WHERE site_id = ?1 AND state = 'published' AND id != ?2 "
       "ORDER BY id DESC LIMIT -1 OFFSET ?3"},
      {"versions.delete", "DELETE FROM versions WHERE id = ?1"},
      {"gc.collect_version",
       "INSERT OR IGNORE INTO temp.gc(hash) SELECT hash FROM version_files WHERE version_id = ?1"},
      {"gc.collect_site",
       "INSERT OR IGNORE INTO temp.gc(hash) SELECT f.hash FROM version_files f "
       "JOIN versions v ON v.id = f.version_id WHERE v.site_id = ?1"},
      {"files.insert",
       "INSERT INTO version_files(version_id, path, hash, size) VALUES (?1, ?2, ?3, ?4)"},
      {"files.of_version",
       "SELECT f.path, f.hash, f.size, "
       "(SELECT group_concat(encoding) FROM blob_variants v WHERE v.hash = f.hash) "
       "FROM version_files f WHERE f.version_id = ?1"},
      {"files.path_for_hash", "SELECT path FROM version_files WHERE hash = ?1 LIMIT 1"},
      {"variants.get", "SELECT data FROM blob_variants WHERE hash = ?1 AND encoding = ?2"},
      {"variants.rowid_size",
       "SELECT rowid, length(data) FROM blob_variants WHERE hash = ?1 AND encoding = ?2"},
  };
  return kStatements;
}

const char* ControlConnectionSetup() {
  // Hashes whose blobs may have lost their last reference, within one write.
  return "CREATE TEMP TABLE IF NOT EXISTS gc (hash TEXT PRIMARY KEY)";
}

}  // namespace hearth::store

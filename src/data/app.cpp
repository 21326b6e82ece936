#include "data/app.h"

#include <sys/stat.h>

#include <filesystem>

#include "data/records_internal.h"

namespace hearth::data {

const std::vector<store::Migration>& AppMigrations() {
  static const std::vector<store::Migration> kMigrations = {
      {1, R"sql(
        CREATE TABLE _meta (
          key   TEXT PRIMARY KEY,
          value TEXT NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO _meta(key, value) VALUES ('schema_version', '0');
        CREATE TABLE _collections (
          id         TEXT PRIMARY KEY,        -- "pbc_..." (stable)
          name       TEXT NOT NULL UNIQUE,    -- the table's name
          definition TEXT NOT NULL            -- CollectionJson()
        );
      )sql"},
      {2, R"sql(
        -- Signs auth tokens (with each record's tokenKey). Never leaves the file.
        INSERT INTO _meta(key, value) VALUES ('token_secret', lower(hex(randomblob(32))));
      )sql"},
  };
  return kMigrations;
}

std::string AppFileName(const std::string& site) {
  std::string out;
  for (char c : site) {
    if (c == '*')
      out += "_wildcard";
    else
      out.push_back(c);
  }
  return out + ".db";
}

Result<std::shared_ptr<Schema>> LoadSchema(store::Connection& c) {
  auto schema = std::make_shared<Schema>();
  {
    auto v = c.Prepare("SELECT value FROM _meta WHERE key = 'schema_version'");
    if (!v.ok()) return v.error();
    Status st = OkStatus();
    if (v->Step(&st)) schema->version = std::stoll(std::string(v->Text(0)));
    if (!st.ok()) return st.error();
  }
  auto q = c.Prepare("SELECT id, name, definition FROM _collections ORDER BY name");
  if (!q.ok()) return q.error();
  std::vector<std::pair<Collection, nlohmann::json>> stored;
  Status st = OkStatus();
  while (q->Step(&st)) {
    Collection shell;
    shell.id = std::string(q->Text(0));
    shell.name = std::string(q->Text(1));
    auto def = nlohmann::json::parse(q->Text(2), nullptr, false);
    if (def.is_discarded())
      return Error{"collection " + shell.name + ": stored definition is not JSON"};
    if (def.contains("type") && def["type"].is_string())
      shell.type = def["type"].get<std::string>();
    stored.emplace_back(std::move(shell), std::move(def));
  }
  if (!st.ok()) return st.error();
  // Relations may point at any collection: make every name known first.
  for (const auto& [shell, def] : stored) schema->collections[shell.name] = shell;
  for (auto& [shell, def] : stored) {
    auto c2 = ParseCollection(def, *schema, &shell);
    if (!c2.ok()) return Error{"collection " + shell.name + ": " + c2.error().message};
    schema->collections[shell.name] = std::move(c2).value();
  }
  return schema;
}

Result<std::unique_ptr<App>> App::Open(const std::string& path, int readers, std::string files_root,
                                       std::shared_ptr<store::StreamContext> stream,
                                       bool made_now) {
  store::Store::Options o;
  o.path = path;
  o.readers = readers + 1;  // the last: the realtime dispatcher's
  o.migrations = AppMigrations();
  o.name = "apps/" + std::filesystem::path(path).filename().string();
  o.stream = std::move(stream);
  o.announce = made_now;
  auto s = store::Store::Open(std::move(o));
  if (!s.ok()) return s.error();
  std::unique_ptr<App> app(new App());
  app->store_ = std::move(s).value();
  app->files_ = RecordFiles(std::move(files_root));
  auto schema = LoadSchema(app->store_->Reader(0));
  if (!schema.ok()) return Error{path + ": " + schema.error().message};
  app->schema_ = std::move(schema).value();
  auto secret =
      app->store_->Reader(0).Prepare("SELECT value FROM _meta WHERE key = 'token_secret'");
  if (!secret.ok()) return secret.error();
  Status st = OkStatus();
  if (secret->Step(&st)) app->token_secret_ = std::string(secret->Text(0));
  if (app->token_secret_.empty()) return Error{path + ": no token secret"};
  App* raw = app.get();
  store::Connection* rd = &app->store_->Reader(readers);
  app->realtime_.SetJudge(
      [raw, rd](const Realtime::Event& e, const std::vector<Realtime::Viewer>& viewers) {
        return records::JudgeEvent(*raw, *rd, e, viewers);
      });
  return app;
}

Apps::~Apps() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [site, app] : open_) app->store().StopWrites();
}

Result<std::shared_ptr<App>> Apps::Get(const std::string& site, bool create) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = open_.find(site);
  if (it != open_.end()) return it->second;
  std::string path = dir_ + "/" + AppFileName(site);
  struct stat st;
  const bool exists = stat(path.c_str(), &st) == 0;
  if (!create && !exists) return std::shared_ptr<App>();
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Error{"cannot create " + dir_ + ": " + ec.message()};
  std::string file = AppFileName(site);
  std::string files_root = std::filesystem::path(dir_).parent_path().string() + "/files/" +
                           file.substr(0, file.size() - 3);
  auto app = App::Open(path, readers_, std::move(files_root), stream_, /*made_now=*/!exists);
  if (!app.ok()) return app.error();
  std::shared_ptr<App> shared(std::move(app).value());
  open_[site] = shared;
  return shared;
}

}  // namespace hearth::data

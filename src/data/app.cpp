#include "data/app.h"

#include <sys/stat.h>

#include <filesystem>

#include "base/log.h"
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

namespace {

std::string Text(const store::Value& v) {
  return v.type == store::Value::Type::kText || v.type == store::Value::Type::kBlob ? v.bytes : "";
}

}  // namespace

// Collection changes, from whichever copy made them: the snapshot is read
// again from the committed state, and "@schema" subscribers hear of each
// collection created, changed or dropped. `_meta` too: its schema_version
// moves with every collection change, even one whose definition came out
// the same (no `_collections` row changed), and the snapshot must follow.
void App::ObserveSchema(App* app, store::Observers& observers) {
  struct Change {
    const char* action;
    std::string id, name;
  };
  auto changes = std::make_shared<std::vector<Change>>();
  auto reload = std::make_shared<bool>(false);
  store::Observers::Observer o;
  o.wants = [](std::string_view t) { return t == "_collections" || t == "_meta"; };
  o.row = [changes, reload](store::Connection&, const store::RowChange& ch) {
    *reload = true;
    if (ch.table != "_collections") return;
    const store::RowOp op = ch.op;
    const char* action = op == store::RowOp::kInsert   ? "create"
                         : op == store::RowOp::kUpdate ? "update"
                                                       : "delete";
    std::string id = Text(op == store::RowOp::kInsert ? ch.New("id") : ch.Old("id"));
    std::string name = Text(op == store::RowOp::kInsert ? ch.New("name") : ch.Old("name"));
    changes->push_back({action, std::move(id), std::move(name)});
  };
  o.end = [app, changes, reload](store::Connection& c) {
    auto list = std::move(*changes);
    changes->clear();
    if (!*reload) return;
    *reload = false;
    auto schema = LoadSchema(c);
    if (!schema.ok()) {
      Log(LogLevel::kError, "cannot read the collections after a change",
          {{"error", schema.error().message}});
      return;
    }
    std::shared_ptr<const Schema> now = std::move(schema).value();
    app->SetSchema(now);
    // The schema change feed: screens built from a schema redraw.
    for (const Change& ch : list) {
      const Collection* col = nullptr;
      for (const auto& [n, candidate] : now->collections)
        if (candidate.id == ch.id) col = &candidate;
      app->realtime().PublishSchema(
          {{"action", ch.action},
           {"collection", col ? col->name : ch.name},
           {"schemaVersion", now->version},
           {"definition", col ? CollectionJson(*col) : nlohmann::json(nullptr)},
           {"schema", col ? JsonSchema(*col, now->version) : nlohmann::json(nullptr)}});
    }
  };
  observers.Add(std::move(o));
}

// Record changes, to realtime subscribers: recorded only while there are
// any (a collection's table is wanted then); one Publish per commit, each
// record whole as superusers see it (who sees what is decided later, per
// subscriber). A created or updated record is read as committed; a deleted
// one comes from the change's old image.
void App::ObserveRecords(App* app, store::Observers& observers) {
  struct Change {
    std::string table;
    store::RowOp op;
    std::string id;
    std::vector<std::pair<std::string, SqlValue>> old_values;  // a delete's
  };
  auto changes = std::make_shared<std::vector<Change>>();
  store::Observers::Observer o;
  // Collection names begin with a letter: every other table is the app's own.
  o.wants = [app](std::string_view t) {
    return !t.empty() && t[0] != '_' && t.rfind("sqlite_", 0) != 0 && app->realtime().clients() > 0;
  };
  o.row = [changes](store::Connection&, const store::RowChange& ch) {
    Change out;
    out.table = std::string(ch.table);
    out.op = ch.op;
    out.id = Text(ch.op == store::RowOp::kInsert ? ch.New("id") : ch.Old("id"));
    if (ch.op == store::RowOp::kDelete && ch.columns) {
      for (size_t i = 0; i < ch.columns->size() && i < ch.old_row.size(); ++i) {
        const store::Value& v = ch.old_row[i];
        SqlValue sv = nullptr;
        if (v.type == store::Value::Type::kInt)
          sv = v.i;
        else if (v.type == store::Value::Type::kReal)
          sv = v.real;
        else if (v.type == store::Value::Type::kText || v.type == store::Value::Type::kBlob)
          sv = v.bytes;
        out.old_values.emplace_back((*ch.columns)[i], std::move(sv));
      }
    }
    changes->push_back(std::move(out));
  };
  o.end = [app, changes](store::Connection& c) {
    auto list = std::move(*changes);
    changes->clear();
    auto schema = app->schema();
    std::vector<Realtime::Event> events;
    for (const Change& ch : list) {
      const Collection* col = schema->Find(ch.table);
      if (!col) continue;
      if (ch.op == store::RowOp::kDelete) {
        events.push_back({col->name, "delete", records::RecordFromRow(*col, ch.old_values)});
        continue;
      }
      auto st = c.Cached("SELECT " + records::SelectColumns(*col, "r") + " FROM " +
                         QuoteIdent(col->name) + " AS r WHERE r.\"id\" = ?1");
      if (!st.ok()) continue;
      st->Bind(1, std::string_view(ch.id));
      Status s = OkStatus();
      if (st->Step(&s))
        events.push_back({col->name, ch.op == store::RowOp::kInsert ? "create" : "update",
                          records::RowJson(*col, *st)});
      st->Reset();
    }
    if (!events.empty()) app->realtime().Publish(std::move(events));
  };
  observers.Add(std::move(o));
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
  // Registered before any write of this app: the schema first, so that the
  // records' observer renders a commit's events with the schema it made.
  ObserveSchema(raw, app->store_->observers());
  ObserveRecords(raw, app->store_->observers());
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

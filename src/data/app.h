#pragma once
// Apps: each site's own app database (DATA/apps/<site>.db), opened on first
// use, each with its own Store (writer thread, a reader per worker), and the
// collections it holds as an immutable Schema snapshot that every request
// reads without a lock held past the copy of a pointer.
//
// Collection changes run on the app's writer thread: the new definition, the
// table's CREATE/ALTER/DROP and the schema version (which only grows) commit
// in one transaction; the snapshot is replaced after the commit, by an
// observer of `_collections` (store/observers.h), so a copy that applies the
// change follows too. Realtime events come from an observer of the
// collections' tables the same way.
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "base/background.h"
#include "base/login_throttle.h"
#include "data/files.h"
#include "data/realtime.h"
#include "data/schema.h"
#include "http/response.h"
#include "store/store.h"

namespace hearth::data {

// The app database's own tables (collections add theirs at run time). From
// version 3 on, migrations are deterministic (no random or clock functions):
// the change stream replays them (tests/unit/stream_schema_test.cpp).
const std::vector<store::Migration>& AppMigrations();

class App {
 public:
  // `files_root`: where its records' files live (DATA/files/<site>).
  // `stream`: the change stream it joins, as "apps/<file>" (null: none).
  // `made_now`: the file did not exist (its first entry then carries it
  // whole: store::Store::Options::announce).
  static Result<std::unique_ptr<App>> Open(const std::string& path, int readers,
                                           std::string files_root,
                                           std::shared_ptr<store::StreamContext> stream = nullptr,
                                           bool made_now = false);

  store::Store& store() { return *store_; }
  Realtime& realtime() { return realtime_; }
  const RecordFiles& files() const { return files_; }
  // Failed sign-ins to this app, per client network and per account.
  LoginThrottle& throttle() { return throttle_; }
  // The key auth tokens are signed with (joined with the record's tokenKey).
  const std::string& token_secret() const { return token_secret_; }
  std::shared_ptr<const Schema> schema() const {
    std::lock_guard<std::mutex> lock(mu_);
    return schema_;
  }
  void SetSchema(std::shared_ptr<const Schema> s) {
    std::lock_guard<std::mutex> lock(mu_);
    schema_ = std::move(s);
  }

 private:
  // The effects of committed changes to this app's database (app.cpp).
  static void ObserveSchema(App* app, store::Observers& observers);
  static void ObserveRecords(App* app, store::Observers& observers);
  std::unique_ptr<store::Store> store_;
  mutable std::mutex mu_;
  std::shared_ptr<const Schema> schema_;
  Realtime realtime_;
  LoginThrottle throttle_;
  RecordFiles files_{""};
  std::string token_secret_;
};

// Reads every collection definition on `c` (any connection of the app).
Result<std::shared_ptr<Schema>> LoadSchema(store::Connection& c);

class Apps {
 public:
  // `dir`: DATA/apps (record files go beside it, in DATA/files/<site>);
  // `readers`: one per worker.
  // `stream`: the change stream every app database joins (null: none).
  Apps(std::string dir, int readers, std::shared_ptr<store::StreamContext> stream = nullptr)
      : dir_(std::move(dir)), readers_(readers), stream_(std::move(stream)) {}
  // Ends every app's writes first: a write's completion may hold the last
  // reference to its App, which must not be let go on that App's own writer
  // thread (its Store would join itself).
  ~Apps();
  // The app of site `name`; null when it has none and `create` is false.
  Result<std::shared_ptr<App>> Get(const std::string& site, bool create);
  // Slow work off the workers: uploaded files written and synced.
  BackgroundQueue& background() { return background_; }
  // Password hashing and checking (argon2id, tens of milliseconds each), on
  // a queue of its own so guesses cannot delay uploads, and bounded: past
  // kMaxPasswordWork waiting, a request is refused with 503.
  static constexpr size_t kMaxPasswordWork = 16;
  BackgroundQueue& passwords() { return passwords_; }

 private:
  BackgroundQueue background_;
  BackgroundQueue passwords_;
  std::string dir_;
  int readers_;
  std::shared_ptr<store::StreamContext> stream_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<App>> open_;
};

// The file an app lives in: "*.example.com" -> "_wildcard.example.com.db".
std::string AppFileName(const std::string& site);

}  // namespace hearth::data

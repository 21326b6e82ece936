// The CLI's offline verbs through the server library: a backup and restore
// round trip, a restore refused while a server holds the folder, and a
// corrupt backup refused with one line (the folder untouched either way).
#include "server/offline.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "base/log.h"
#include "server/server.h"
#include "server/settings.h"
#include "store/control_schema.h"
#include "store/store.h"

namespace hearth {
namespace {

class Offline : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kError);
    char tmpl[] = "/tmp/hearth-offline-XXXXXX";
    dir_ = mkdtemp(tmpl);
    data_ = dir_ + "/data";
    std::filesystem::create_directories(data_);
    AddSite(1, "a.example.com");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Adds a site to the folder's hearth.db (made on first use), as a stopped
  // server leaves it.
  void AddSite(int id, const std::string& name) {
    store::Store::Options o;
    o.path = data_ + "/hearth.db";
    o.readers = 1;
    o.migrations = store::ControlMigrations();
    o.statements = store::ControlStatements();
    o.connection_setup = store::ControlConnectionSetup();
    auto s = store::Store::Open(std::move(o));
    ASSERT_TRUE(s.ok()) << s.error().message;
    Status w = (*s)->Write([&](store::Connection& c) {
      return c.Exec("INSERT INTO sites(id, name, created_at) VALUES (" + std::to_string(id) +
                    ", '" + name + "', 0)");
    });
    ASSERT_TRUE(w.ok()) << w.error().message;
  }
  // The folder's sites' names, in order, joined by spaces.
  std::string Sites() {
    sqlite3* db = nullptr;
    std::string out;
    if (sqlite3_open_v2((data_ + "/hearth.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
        SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db, "SELECT name FROM sites ORDER BY id", -1, &st, nullptr);
      while (st && sqlite3_step(st) == SQLITE_ROW)
        out += (out.empty() ? "" : " ") +
               std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
      sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
  }

  std::string dir_, data_;
};

TEST_F(Offline, BackupAndRestoreRoundTrip) {
  std::string backup = dir_ + "/b.db";
  ASSERT_TRUE(BackupFolder(data_, backup).ok());
  AddSite(2, "b.example.com");
  ASSERT_EQ(Sites(), "a.example.com b.example.com");
  Status st = RestoreFolder(backup, data_);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(Sites(), "a.example.com");
}

TEST_F(Offline, RestoreIsRefusedWhileAServerHoldsTheFolder) {
  std::string backup = dir_ + "/b.db";
  ASSERT_TRUE(BackupFolder(data_, backup).ok());
  AddSite(2, "b.example.com");
  char* env[] = {nullptr};
  auto settings = LoadSettings("", env, {{"data", data_}, {"http", "127.0.0.1:0"}});
  ASSERT_TRUE(settings.ok()) << settings.error().message;
  ServeOptions o;
  o.settings = std::move(settings).value();
  auto started = Server::Start(std::move(o));
  ASSERT_TRUE(started.ok()) << started.error().message;
  Status st = RestoreFolder(backup, data_);
  (*started)->Stop();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("in use"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("stop it before restoring"), std::string::npos);
  EXPECT_EQ(Sites(), "a.example.com b.example.com");  // untouched
}

TEST_F(Offline, ACorruptBackupIsRefusedWithOneLine) {
  std::string bogus = dir_ + "/bogus.db";
  std::ofstream(bogus) << std::string(8192, 'x');
  Status st = RestoreFolder(bogus, data_);
  ASSERT_FALSE(st.ok());
  EXPECT_FALSE(st.error().message.empty());
  EXPECT_EQ(st.error().message.find('\n'), std::string::npos) << st.error().message;
  EXPECT_EQ(Sites(), "a.example.com");  // untouched
}

}  // namespace
}  // namespace hearth

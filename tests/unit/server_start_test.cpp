// A failed start leaves nothing behind: for each way a start can fail after
// parts of the server are up (a taken port, a bad certificate authority file,
// an unusable data folder, a database from a newer hearth, ...), Server::Start
// returns one line, and the process holds exactly the descriptors and threads
// it held before.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

#include "base/log.h"
#include "server/server.h"
#include "server/settings.h"

namespace hearth {
namespace {

int CountEntries(const char* dir) {
  DIR* d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n - 1;  // opendir's own descriptor (or nothing, for tasks: harmless)
}

// A listening socket on a free loopback port, held by the test: the port hearth
// must fail to take.
struct TakenPort {
  int fd = -1;
  int port = 0;
  TakenPort() {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd, 1), 0);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~TakenPort() { close(fd); }
};

class ServerStartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kError);
    char tmpl[] = "/tmp/hearth-start-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts with `flags` (plus a data folder, a free HTTP port and two workers
  // unless given) and expects a one-line error containing `expect`, with no
  // descriptor or thread left over.
  void ExpectCleanFailure(std::map<std::string, std::string> flags, const std::string& expect) {
    flags.emplace("data", dir_ + "/data");
    flags.emplace("http", "127.0.0.1:0");
    flags.emplace("workers", "2");
    char* env[] = {nullptr};
    auto settings = LoadSettings("", env, flags);
    ASSERT_TRUE(settings.ok()) << settings.error().message;
    int fds_before = CountEntries("/proc/self/fd");
    int threads_before = CountEntries("/proc/self/task");
    ServeOptions o;
    o.settings = std::move(settings).value();
    auto started = Server::Start(std::move(o));
    ASSERT_FALSE(started.ok()) << "the start should have failed with: " << expect;
    const std::string& msg = started.error().message;
    EXPECT_NE(msg.find(expect), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
    EXPECT_EQ(CountEntries("/proc/self/fd"), fds_before) << "a descriptor stayed open after: " << msg;
    EXPECT_EQ(CountEntries("/proc/self/task"), threads_before) << "a thread stayed after: " << msg;
  }

  std::string dir_;
};

TEST_F(ServerStartTest, TakenHttpPort) {
  TakenPort taken;
  ExpectCleanFailure({{"http", "127.0.0.1:" + std::to_string(taken.port)}}, "in use");
}

TEST_F(ServerStartTest, TakenHttpsPortAfterHttpIsBound) {
  TakenPort taken;
  ExpectCleanFailure({{"https", "127.0.0.1:" + std::to_string(taken.port)}}, "in use");
}

TEST_F(ServerStartTest, UnknownAcmeChallengeAfterListenersAreBound) {
  ExpectCleanFailure({{"https", "127.0.0.1:0"}, {"acme-email", "a@example.com"},
                      {"acme-challenges", "dns-01"}},
                     "dns-01");
}

TEST_F(ServerStartTest, AcmeCaRootThatIsNoCertificate) {
  std::ofstream(dir_ + "/ca.pem") << "not a certificate\n";
  ExpectCleanFailure({{"https", "127.0.0.1:0"}, {"acme-email", "a@example.com"},
                      {"acme-ca-root", dir_ + "/ca.pem"}},
                     "acme-ca-root");
}

TEST_F(ServerStartTest, DataFolderThatIsAFile) {
  std::ofstream(dir_ + "/file") << "x";
  ExpectCleanFailure({{"data", dir_ + "/file"}}, "data folder");
}

TEST_F(ServerStartTest, DatabaseFromANewerHearth) {
  std::filesystem::create_directories(dir_ + "/data");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/data/hearth.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 100000", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  ExpectCleanFailure({}, "newer hearth");
}

TEST_F(ServerStartTest, RootThatIsNoFolder) {
  ExpectCleanFailure({{"root", dir_ + "/missing"}}, "is not a folder");
}

}  // namespace
}  // namespace hearth

// A failed start leaves nothing behind: for each way a start can fail after
// parts of the server are up (a taken port, a bad certificate authority file,
// an unusable data folder, a database from a newer hearth, ...), Server::Start
// returns one line, and the process holds exactly the descriptors and threads
// it held before.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/log.h"
#include "echo_session.h"
#include "io/session.h"
#include "io/socket.h"
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
    EXPECT_EQ(CountEntries("/proc/self/fd"), fds_before)
        << "a descriptor stayed open after: " << msg;
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
  ExpectCleanFailure(
      {{"https", "127.0.0.1:0"}, {"acme-email", "a@example.com"}, {"acme-challenges", "dns-01"}},
      "dns-01");
}

TEST_F(ServerStartTest, AcmeCaRootThatIsNoCertificate) {
  std::ofstream(dir_ + "/ca.pem") << "not a certificate\n";
  ExpectCleanFailure({{"https", "127.0.0.1:0"},
                      {"acme-email", "a@example.com"},
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

// Every step of the start fails in turn (the list comes from a start that
// succeeded, with HTTPS and ACME so that every service is in it): each time,
// one line naming the step, and nothing left open or running.
TEST_F(ServerStartTest, EachStepFailingInTurnLeavesNothingBehind) {
  std::map<std::string, std::string> flags{{"https", "127.0.0.1:0"},
                                           {"acme-email", "a@example.com"},
                                           {"acme-directory", "https://127.0.0.1:1/dir"},
                                           {"backup-every", "1h"},
                                           {"log-level", "error"},
                                           {"data", dir_ + "/data"},
                                           {"http", "127.0.0.1:0"},
                                           {"workers", "2"}};
  char* env[] = {nullptr};
  std::vector<std::string> names;
  {
    auto settings = LoadSettings("", env, flags);
    ASSERT_TRUE(settings.ok()) << settings.error().message;
    ServeOptions o;
    o.settings = std::move(settings).value();
    auto started = Server::Start(std::move(o));
    ASSERT_TRUE(started.ok()) << started.error().message;
    for (const auto& s : (*started)->services().list()) names.emplace_back(s->name());
    (*started)->Stop();
  }
  ASSERT_GE(names.size(), 12u);
  for (const std::string& failing : names) {
    SCOPED_TRACE("failing: " + failing);
    auto settings = LoadSettings("", env, flags);
    ASSERT_TRUE(settings.ok());
    int fds_before = CountEntries("/proc/self/fd");
    int threads_before = CountEntries("/proc/self/task");
    ServeOptions o;
    o.settings = std::move(settings).value();
    o.before_start = [&](std::string_view name) -> Status {
      if (name == failing) return Error{"planted failure"};
      return OkStatus();
    };
    auto started = Server::Start(std::move(o));
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.error().message, failing + ": planted failure");
    EXPECT_EQ(CountEntries("/proc/self/fd"), fds_before);
    EXPECT_EQ(CountEntries("/proc/self/task"), threads_before);
  }
}

// What ARCHITECTURE.md's "a listener or protocol" describes: a service that
// binds its port per worker before the workers start.
class EchoPort : public Service {
 public:
  EchoPort(Parts* parts, int* port) : parts_(parts), port_(port) {}
  std::string_view name() const override { return "echo"; }
  Status Start() override {
    auto addr = ParseListenAddress("127.0.0.1:0");
    auto reserved = ReserveAddress(*addr);
    if (!reserved.ok()) return reserved.error();
    ProtocolListener l;
    l.name = "echo";
    for (int i = 0; i < parts_->nworkers; ++i) {
      auto fd = ListenReusePort(*reserved, 64);
      if (!fd.ok()) return fd.error();  // (a real service closes those it bound)
      l.fds.push_back(*fd);
    }
    l.sessions = [](EventLoop&) { return testing_support::Echoes(); };
    parts_->protocols.push_back(std::move(l));
    *port_ = reserved->Port();
    return OkStatus();
  }
  void Stop() override {}

 private:
  Parts* parts_;
  int* port_;
};

TEST_F(ServerStartTest, AProtocolServiceServesItsOwnPort) {
  char* env[] = {nullptr};
  int fds_before = CountEntries("/proc/self/fd");
  {
    auto settings = LoadSettings(
        "", env, {{"data", dir_ + "/data"}, {"http", "127.0.0.1:0"}, {"workers", "2"}});
    ASSERT_TRUE(settings.ok());
    ServeOptions o;
    o.settings = std::move(settings).value();
    int port = 0;
    o.add_services = [&port](Parts* parts, Services* list) {
      list->Add(std::make_unique<EchoPort>(parts, &port));
    };
    auto started = Server::Start(std::move(o));
    ASSERT_TRUE(started.ok()) << started.error().message;
    ASSERT_NE(port, 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{5, 0};  // bounded
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ASSERT_EQ(write(fd, "PING\r\n", 6), 6);
    char buf[16] = {};
    std::string got;
    while (got.size() < 6) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    EXPECT_EQ(got, "PING\r\n");
    close(fd);
    (*started)->Stop();
  }
  EXPECT_EQ(CountEntries("/proc/self/fd"), fds_before);
}

TEST_F(ServerStartTest, RootThatIsNoFolder) {
  ExpectCleanFailure({{"root", dir_ + "/missing"}}, "is not a folder");
}

}  // namespace
}  // namespace hearth

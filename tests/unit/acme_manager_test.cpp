// The ACME manager's jobs: where they run (a scheduler of ACME's own, so a
// slow CA never holds the shared jobs' threads) and how promptly they stop.
#include "control/acme_manager.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "base/clock.h"
#include "silent_port.h"
#include "store/control_schema.h"
#include "store/store.h"

namespace hearth::control {
namespace {

class AcmeManagerJobs : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-acme-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store::Store::Options o;
    o.path = dir_ + "/hearth.db";
    o.readers = 1;
    o.migrations = store::ControlMigrations();
    o.statements = store::ControlStatements();
    o.connection_setup = store::ControlConnectionSetup();
    auto s = store::Store::Open(std::move(o));
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(s).value();
    shared_.store = store_.get();
    // A site whose host has no certificate: the orders job orders one at once.
    ASSERT_TRUE(store_
                    ->Write([](store::Connection& c) -> Status {
                      if (Status s = c.Exec("INSERT INTO sites(id, name, created_at) VALUES "
                                            "(1, 'shop.example.com', 0)");
                          !s.ok())
                        return s;
                      return c.Exec(
                          "INSERT INTO site_hosts(host, site_id) VALUES ('shop.example.com', 1)");
                    })
                    .ok());
    // The "CA": a port that takes connections (the kernel's backlog) and
    // never answers, as a CA that hangs would.
    ASSERT_NE(ca_.port, 0);
    options_.directory = ca_.Url() + "/directory";
    options_.challenges = {tls::kHttp01};
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
  ControlShared shared_;
  tls::AcmeOptions options_;
  SilentPort ca_;
};

// Orders (the leader's work) and asks run as jobs of ACME's own scheduler.
TEST_F(AcmeManagerJobs, OrdersAndAsksAreJobsOfItsOwnScheduler) {
  AcmeManager m(&shared_, options_, "http://127.0.0.1:9/ask");
  EXPECT_TRUE(m.Jobs().empty());  // nothing before Start
  m.Start();
  auto jobs = m.Jobs();
  ASSERT_EQ(jobs.size(), 2u);
  std::map<std::string, bool> leader_only;
  for (const JobInfo& j : jobs) leader_only[j.name] = j.leader_only;
  EXPECT_EQ(leader_only.count("acme-orders"), 1u);
  EXPECT_TRUE(leader_only["acme-orders"]);
  EXPECT_EQ(leader_only.count("acme-ask"), 1u);
  EXPECT_FALSE(leader_only["acme-ask"]);
  m.Stop();
}

// Stop gives up an order whose CA does not answer (its transfer would wait
// 30 s) and returns within a bound.
TEST_F(AcmeManagerJobs, StopReturnsPromptlyWithAnOrderInFlight) {
  AcmeManager m(&shared_, options_);
  m.Start();
  // The order is in flight once its request reached the CA.
  pollfd p{ca_.fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1) << "no order reached the CA";
  int conn = accept(ca_.fd, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // it waits for an answer now
  int64_t start = MonoNowMillis();
  m.Stop();
  EXPECT_LT(MonoNowMillis() - start, 3000);
  close(conn);
}

}  // namespace
}  // namespace hearth::control

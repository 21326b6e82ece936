// The server's schedulers: a job that waits on the network (a proxy health
// check on an upstream that never answers) runs on the network pool, so it
// cannot hold the shared pool's threads and delay the short jobs there.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "base/clock.h"
#include "server/parts.h"
#include "silent_port.h"

namespace hearth {
namespace {

// Waits (bounded) until `done` holds.
bool WaitFor(const std::atomic<bool>& done, int64_t ms) {
  int64_t end = MonoNowMillis() + ms;
  while (!done.load() && MonoNowMillis() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return done.load();
}

TEST(JobsParts, AHungHealthCheckDoesNotDelayAShortJob) {
  // The upstream: takes connections (the kernel's backlog), never answers.
  SilentPort upstream;
  ASSERT_NE(upstream.port, 0);
  int up = upstream.fd;
  std::string url = upstream.Url();

  Parts parts;
  auto jobs = JobsService(&parts);
  ASSERT_TRUE(jobs->Start().ok());
  auto proxy = ProxyService(&parts);
  ASSERT_TRUE(proxy->Start().ok());

  // One of the shared pool's two threads is busy with a longer job.
  std::atomic<bool> release{false}, busy{false};
  parts.jobs->After("busy", 0, [&] {
    busy.store(true);
    WaitFor(release, 10000);
  });
  ASSERT_TRUE(WaitFor(busy, 5000));
  // A site proxying to the upstream, checked with a 30 s timeout: the check
  // hangs once its connection is in.
  auto set = parts.proxies->Get(
      "site", R"({"upstreams":[")" + url + R"("],"health_path":"/h","health_timeout_ms":30000})");
  ASSERT_NE(set, nullptr);
  pollfd p{up, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1) << "no health check reached the upstream";
  int conn = accept(up, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  // A short job on the shared pool runs at once all the same.
  std::atomic<bool> ran{false};
  parts.jobs->After("short", 0, [&] { ran.store(true); });
  EXPECT_TRUE(WaitFor(ran, 2000)) << "the shared pool was held by the health check";

  // Tidy up: the check fails at once when its connection closes.
  release.store(true);
  close(conn);
  proxy->Stop();
  parts.proxies.reset();  // cancels the health job
  jobs->Stop();
}

// Stopping is not held by a health check in flight on an upstream that never
// answers (its timeout here is 30 s): the check gives up within its 100 ms
// wait slice.
TEST(JobsParts, StoppingDoesNotWaitForAHungHealthCheck) {
  SilentPort upstream;
  ASSERT_NE(upstream.port, 0);
  int up = upstream.fd;
  std::string url = upstream.Url();

  Parts parts;
  auto jobs = JobsService(&parts);
  ASSERT_TRUE(jobs->Start().ok());
  auto proxy = ProxyService(&parts);
  ASSERT_TRUE(proxy->Start().ok());
  auto set = parts.proxies->Get(
      "site", R"({"upstreams":[")" + url + R"("],"health_path":"/h","health_timeout_ms":30000})");
  ASSERT_NE(set, nullptr);
  pollfd p{up, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1) << "no health check reached the upstream";
  int conn = accept(up, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the check now waits

  int64_t start = MonoNowMillis();
  proxy->Stop();
  set.reset();
  parts.proxies.reset();
  jobs->Stop();
  EXPECT_LT(MonoNowMillis() - start, 2000) << "stopping waited for the health check";
  close(conn);
}

}  // namespace
}  // namespace hearth

// A worker serving a protocol of its own beside HTTP: an echo Session on a
// second listener, plain and TLS, goes through the same accept path as HTTP
// (max-connections with idle eviction, the guard's per-address cap, the idle
// timeout, graceful stop). Posts through the worker's inbox from another
// thread, also after the worker has gone, and pushes into a session through
// EventLoop::Resume.
#include "server/worker.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "echo_session.h"
#include "io/socket.h"
#include "server/http_listener.h"
#include "tls/certs.h"

namespace hearth {
namespace {

using testing_support::Echoes;  // sends back every byte it gets
using testing_support::EchoSession;

int Listen(int* port) {
  auto addr = ParseListenAddress("127.0.0.1:0");
  EXPECT_TRUE(addr.ok());
  auto fd = ListenReusePort(*addr, 64);
  EXPECT_TRUE(fd.ok());
  *port = LocalAddress(*fd).Port();
  return *fd;
}

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{5, 0};  // bounded: a test never hangs on a read
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// What the peer sends until it has `want` bytes, or closes, or 5 s pass.
std::string ReadSome(int fd, size_t want) {
  std::string got;
  char buf[4096];
  while (got.size() < want) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// Whether the peer closed the connection within `ms` (EOF or reset).
bool ClosedWithin(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, ms) <= 0) return false;
  char c;
  return read(fd, &c, 1) <= 0;
}

std::string Echo(int fd, const std::string& text) {
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return "";
  return ReadSome(fd, text.size());
}

struct Rig {
  WorkerShared shared;
  std::unique_ptr<Worker> worker;
  HttpSessions* http = nullptr;
  int http_port = 0, echo_port = 0;
  // What a request to /defer leaves behind: its reply and a waker, to be
  // used from another thread (as the store's writer and realtime do).
  std::mutex kept_mu;
  std::shared_ptr<Reply> kept_reply;
  std::function<void()> kept_waker;
  std::vector<uint64_t> echo_ids;  // under kept_mu: each echo session's id, as opened

  void Serve(Request& req, Response& res) {
    if (req.path == "/defer") {
      std::lock_guard<std::mutex> lock(kept_mu);
      kept_waker = res.MakeWaker();
      kept_reply = res.Defer();
      return;
    }
    res.SetText(200, "text/plain", "hi\n");
  }

  explicit Rig(int64_t max_connections, int64_t idle_ms = 10000) {
    Settings& s = shared.settings;
    s.max_connections = max_connections;
    s.max_header_size = s.max_target_size = 8192;
    s.max_body_size = 1 << 20;
    s.header_timeout_ms = s.body_timeout_ms = s.write_timeout_ms = 10000;
    s.keepalive_timeout_ms = idle_ms;
    s.shutdown_timeout_ms = 2000;
    worker = std::make_unique<Worker>(0, &shared);
    http = HttpSessions::On(*worker, [this](Request& req, Response& res) { Serve(req, res); });
    worker->AddListener(Listen(&http_port), nullptr, http->Factory());
    worker->AddListener(Listen(&echo_port), nullptr, Echoes([this](uint64_t id) {
                          std::lock_guard<std::mutex> lock(kept_mu);
                          echo_ids.push_back(id);
                        }));
  }
  // The id of the `n`th echo session opened (0 if none within 5 s).
  uint64_t EchoId(size_t n) {
    for (int i = 0; i < 2500; ++i) {
      {
        std::lock_guard<std::mutex> lock(kept_mu);
        if (echo_ids.size() > n) return echo_ids[n];
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return 0;
  }
  void Start() { worker->Start(); }
  void Stop() {
    shared.stop.store(true);
    worker->Wake();
  }
  ~Rig() {
    if (!worker->finished()) Stop();
    worker->Join();
  }
};

TEST(Worker, EchoBesideHttpOnOneLoop) {
  Rig rig(100);
  rig.Start();
  int echo = Connect(rig.echo_port);
  ASSERT_GE(echo, 0);
  EXPECT_EQ(Echo(echo, "ping"), "ping");
  int http = Connect(rig.http_port);
  ASSERT_GE(http, 0);
  std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(write(http, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string answer = ReadSome(http, 1);
  EXPECT_EQ(answer.substr(0, 15), "HTTP/1.1 200 OK") << answer;
  EXPECT_EQ(Echo(echo, "again"), "again");
  EXPECT_EQ(rig.worker->metrics().connections_accepted.Get(), 2u);
  close(echo);
  close(http);
}

TEST(Worker, MaxConnectionsEvictsTheOldestIdleEcho) {
  Rig rig(2);
  rig.Start();
  int a = Connect(rig.echo_port);
  ASSERT_EQ(Echo(a, "a"), "a");
  int b = Connect(rig.echo_port);
  ASSERT_EQ(Echo(b, "b"), "b");
  // Full, and a third knocks: the oldest idle connection makes room.
  int c = Connect(rig.echo_port);
  EXPECT_EQ(Echo(c, "c"), "c");
  EXPECT_TRUE(ClosedWithin(a, 2000));
  EXPECT_EQ(Echo(b, "b2"), "b2");
  close(a);
  close(b);
  close(c);
}

TEST(Worker, GuardPerAddressCapAppliesToEcho) {
  guard::Guard guard;  // outlives the worker, which releases its counts
  guard::Policy p;
  p.max_conns_per_ip = 1;
  guard.SetPolicy(p);
  Rig rig(100);
  rig.shared.guard = &guard;
  rig.Start();
  int a = Connect(rig.echo_port);
  ASSERT_EQ(Echo(a, "a"), "a");
  int b = Connect(rig.echo_port);  // the kernel accepts it; the worker refuses it
  EXPECT_TRUE(ClosedWithin(b, 2000));
  close(a);
  close(b);
  rig.Stop();
  rig.worker->Join();
}

TEST(Worker, IdleTimeoutClosesAnEcho) {
  Rig rig(100, 300);
  rig.Start();
  int a = Connect(rig.echo_port);
  ASSERT_EQ(Echo(a, "a"), "a");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(ClosedWithin(a, 3000));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200));
  EXPECT_GE(rig.worker->metrics().timeouts[static_cast<int>(TimeoutKind::kIdle)].Get(), 1u);
  close(a);
}

TEST(Worker, GracefulStopEndsEchoesAndTheLoop) {
  Rig rig(100);
  rig.Start();
  int a = Connect(rig.echo_port);
  ASSERT_EQ(Echo(a, "a"), "a");
  rig.Stop();
  EXPECT_TRUE(ClosedWithin(a, 3000));
  close(a);  // the worker lingers until the peer's end (or 2 s)
  rig.worker->Join();
  EXPECT_TRUE(rig.worker->finished());
  EXPECT_LT(Connect(rig.echo_port), 0);  // the listener is closed
}

TEST(Worker, EchoOverTls) {
  auto tls = tls::TlsServer::Create();
  ASSERT_TRUE(tls.ok());
  auto kp = tls::MakeSelfSigned({"echo.test"}, 30);
  ASSERT_TRUE(kp.ok());
  (*tls)->Install({{1, kp->cert_pem, kp->key_pem}}, nullptr);
  Rig rig(100);
  int tls_port = 0;
  rig.worker->AddListener(Listen(&tls_port), tls->get(), Echoes());
  rig.Start();
  int fd = Connect(tls_port);
  ASSERT_GE(fd, 0);
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(cctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "echo.test");  // SNI picks the certificate
  ASSERT_EQ(SSL_connect(ssl), 1);
  ASSERT_EQ(SSL_write(ssl, "secret", 6), 6);
  char buf[16];
  int n = SSL_read(ssl, buf, sizeof buf);
  ASSERT_EQ(n, 6);
  EXPECT_EQ(std::string(buf, 6), "secret");
  EXPECT_EQ(rig.worker->metrics().tls_handshakes.Get(), 1u);
  // Graceful stop reaches it too: close_notify, then the end.
  rig.Stop();
  EXPECT_LE(SSL_read(ssl, buf, sizeof buf), 0);
  SSL_free(ssl);
  SSL_CTX_free(cctx);
  close(fd);
  rig.worker->Join();
}

TEST(EventLoop, PostFromAnotherThreadRunsOnTheLoop) {
  Rig rig(100);
  rig.Start();
  std::atomic<int> ran{0};
  std::atomic<bool> on_loop{true};
  std::thread::id loop_thread;
  std::atomic<bool> got_id{false};
  std::shared_ptr<Inbox> inbox = rig.worker->inbox();
  inbox->Post([&] {
    loop_thread = std::this_thread::get_id();
    got_id.store(true);
  });
  for (int i = 0; i < 500 && !got_id.load(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(got_id.load());
  EXPECT_NE(loop_thread, std::this_thread::get_id());
  std::vector<std::thread> posters;
  for (int t = 0; t < 4; ++t)
    posters.emplace_back([&] {
      for (int i = 0; i < 250; ++i)
        inbox->Post([&] {
          if (std::this_thread::get_id() != loop_thread) on_loop.store(false);
          // A post from the loop's own thread runs too (without the eventfd).
          inbox->Post([&] { ran.fetch_add(1); });
        });
    });
  for (auto& t : posters) t.join();
  for (int i = 0; i < 1000 && ran.load() < 1000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(ran.load(), 1000);
  EXPECT_TRUE(on_loop.load());
  // After the loop ended, posts are dropped, not run.
  rig.Stop();
  rig.worker->Join();
  inbox->Post([&] { ran.fetch_add(1); });
  EXPECT_EQ(ran.load(), 1000);
}

// A stop hook ends what cannot finish by itself, on the loop; work it posts
// there still runs before the loop ends, even with no connection to wait for.
TEST(Worker, StopHooksRunOnTheLoopAndWhatTheyPostRuns) {
  Rig rig(100);
  std::atomic<int> hooks{0};
  std::atomic<bool> posted_ran{false};
  std::thread::id hook_thread;
  rig.worker->AddStopHook([&] {
    hooks.fetch_add(1);
    hook_thread = std::this_thread::get_id();
    rig.worker->inbox()->Post([&] { posted_ran.store(true); });
  });
  rig.Start();
  rig.Stop();
  rig.worker->Join();
  EXPECT_TRUE(rig.worker->finished());
  EXPECT_EQ(hooks.load(), 1);
  EXPECT_NE(hook_thread, std::this_thread::get_id());
  EXPECT_TRUE(posted_ran.load());
}

// Other threads cannot hold a worker to post to it: neither it nor the loop
// interface has a Post; only its inbox (which outlives it) does.
template <class T>
concept PostsDirectly = requires(T& t, std::function<void()> fn) {
  t.Post(std::move(fn));
};
static_assert(!PostsDirectly<Worker>);
static_assert(!PostsDirectly<EventLoop>);
static_assert(PostsDirectly<Inbox>);

// Counts its destructions: a dropped post is destroyed, not run.
struct Token {
  std::atomic<int>* destroyed;
  explicit Token(std::atomic<int>* d) : destroyed(d) {}
  ~Token() { destroyed->fetch_add(1); }
};

// The stop order's hazard: the workers stop and are freed while the store's
// writer, realtime and the other services may still finish a deferred reply,
// wake a stream or post. Those reach a freed worker only through its inbox,
// and are dropped (run under ASan: no use after free).
TEST(EventLoop, PostsAfterTheWorkerWasFreedAreDropped) {
  auto rig = std::make_unique<Rig>(100);
  rig->Start();
  int fd = Connect(rig->http_port);
  ASSERT_GE(fd, 0);
  std::string req = "GET /defer HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::shared_ptr<Reply> reply;
  std::function<void()> waker;
  for (int i = 0; i < 500 && !reply; ++i) {
    {
      std::lock_guard<std::mutex> lock(rig->kept_mu);
      reply = rig->kept_reply;
      waker = rig->kept_waker;
    }
    if (!reply) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(reply);
  ASSERT_TRUE(waker);
  std::shared_ptr<Inbox> inbox = rig->worker->inbox();
  {
    std::lock_guard<std::mutex> lock(rig->kept_mu);
    rig->kept_reply.reset();
    rig->kept_waker = nullptr;
  }
  // The request waits for its answer: the stop ends it at the shutdown timeout.
  rig->Stop();
  rig->worker->Join();
  EXPECT_TRUE(rig->worker->finished());
  rig.reset();  // the worker, its HTTP side and its handler are freed
  close(fd);

  std::atomic<int> ran{0}, destroyed{0};
  std::thread late([&] {
    for (int i = 0; i < 100; ++i) {
      auto token = std::make_shared<Token>(&destroyed);
      inbox->Post([&ran, token] { ran.fetch_add(1); });
    }
    waker();
    waker = nullptr;
    reply->Finish([&ran](Response& res) {
      ran.fetch_add(1);
      res.SetText(200, "text/plain", "late\n");
    });
    reply->Wake();
    reply.reset();  // the last owner: its destructor does not post again
  });
  late.join();
  EXPECT_EQ(ran.load(), 0);
  EXPECT_EQ(destroyed.load(), 100);  // each dropped post was freed
  EXPECT_EQ(inbox.use_count(), 1);   // nothing else holds it now
}

// What a protocol does with work from another thread (a PUBLISH message for a
// subscriber): post through the inbox it kept, then, on the loop, Resume the
// session by id. Only the EventLoop interface is used, as a session factory
// gets it (ProtocolListener). Returns whether Resume found the session, or
// nullopt if the post never ran within 5 s.
std::optional<bool> PushFromAnotherThread(const std::shared_ptr<Inbox>& inbox, EventLoop* loop,
                                          uint64_t id, const std::string& text) {
  auto found = std::make_shared<std::promise<bool>>();
  std::future<bool> result = found->get_future();
  std::thread publisher([&] {
    inbox->Post([loop, id, text, found] {
      found->set_value(
          loop->Resume(id, [&text](Session& s) { static_cast<EchoSession&>(s).Push(text); }));
    });
  });
  publisher.join();
  if (result.wait_for(std::chrono::seconds(5)) != std::future_status::ready) return std::nullopt;
  return result.get();
}

// The client wrote nothing: only the push can make the worker write to it.
TEST(EventLoop, PushFromAnotherThreadReachesASessionThatSentNothing) {
  Rig rig(100);
  rig.Start();
  int fd = Connect(rig.echo_port);
  ASSERT_GE(fd, 0);
  uint64_t id = rig.EchoId(0);
  ASSERT_NE(id, 0u);
  EXPECT_EQ(PushFromAnotherThread(rig.worker->inbox(), rig.worker.get(), id, "server push\n"),
            std::optional<bool>(true));
  EXPECT_EQ(ReadSome(fd, 12), "server push\n");
  EXPECT_EQ(Echo(fd, "ping"), "ping");  // the session goes on as before
  EXPECT_EQ(PushFromAnotherThread(rig.worker->inbox(), rig.worker.get(), id, "again\n"),
            std::optional<bool>(true));
  EXPECT_EQ(ReadSome(fd, 6), "again\n");
  close(fd);
}

// A subscriber that left: the push is dropped, and Resume says so.
TEST(EventLoop, PushToAClosedSessionIsDropped) {
  Rig rig(100);
  rig.Start();
  int fd = Connect(rig.echo_port);
  ASSERT_GE(fd, 0);
  uint64_t id = rig.EchoId(0);
  ASSERT_NE(id, 0u);
  close(fd);
  // The worker sees the end within a turn or two (then lingers, then closes).
  std::optional<bool> found = true;
  for (int i = 0; i < 500 && found == std::optional<bool>(true); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(4));
    found = PushFromAnotherThread(rig.worker->inbox(), rig.worker.get(), id, "");
  }
  EXPECT_EQ(found, std::optional<bool>(false));
  // A later push to it finds nothing either, and other sessions are untouched.
  int other = Connect(rig.echo_port);
  ASSERT_GE(other, 0);
  EXPECT_EQ(PushFromAnotherThread(rig.worker->inbox(), rig.worker.get(), id, "lost\n"),
            std::optional<bool>(false));
  EXPECT_EQ(Echo(other, "ping"), "ping");
  close(other);
}

// A publisher that outlives the worker: its post (which names the freed loop)
// is dropped unrun (run under ASan: no use after free).
TEST(EventLoop, PushAfterTheWorkerWasFreedIsDropped) {
  auto rig = std::make_unique<Rig>(100);
  rig->Start();
  int fd = Connect(rig->echo_port);
  ASSERT_GE(fd, 0);
  uint64_t id = rig->EchoId(0);
  ASSERT_NE(id, 0u);
  std::shared_ptr<Inbox> inbox = rig->worker->inbox();
  EventLoop* loop = rig->worker.get();
  rig->Stop();
  rig->worker->Join();
  rig.reset();
  close(fd);
  std::atomic<int> destroyed{0};
  auto token = std::make_shared<Token>(&destroyed);
  std::atomic<bool> ran{false};
  std::thread publisher([&] {
    inbox->Post([loop, id, token, &ran] {
      ran.store(true);
      loop->Resume(id, [](Session& s) { static_cast<EchoSession&>(s).Push("late\n"); });
    });
  });
  publisher.join();
  token.reset();
  EXPECT_FALSE(ran.load());
  EXPECT_EQ(destroyed.load(), 1);  // the dropped post was freed
}

}  // namespace
}  // namespace hearth

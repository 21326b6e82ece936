#pragma once
// HttpSessions: HTTP on one worker, as a protocol like any other. It owns
// what every HTTP connection of that worker shares (io-free H1Context: the
// root handler, the body routes, the limits, the Date line) and makes the
// SessionFactory its listeners take (h1, h2 by ALPN, h2c by preface:
// http/http_session.h). It also brings deferred answers back: a handler's
// Reply and a stream's waker post through the worker's inbox, and the answer
// reaches its connection on the loop (Worker::Resume), or is dropped if the
// connection or the worker has gone. It counts each request in the worker's
// metrics and batches the access log per turn.
//
//   auto* http = HttpSessions::On(*worker);
//   worker->AddListener(fd, tls_or_null, http->Factory());
//   http->SetHandler(root, body_route);  // before the worker starts
#include <functional>
#include <memory>
#include <string>

#include "http/h1_connection.h"
#include "http/router.h"
#include "io/session.h"
#include "server/worker.h"

namespace hearth {

class HttpSessions : public WorkerPart {
 public:
  // Makes `worker`'s HTTP side, which the worker keeps (and frees).
  static HttpSessions* On(Worker& worker, Handler handler = nullptr,
                          std::function<BodyRoute(const Request&)> body_route = nullptr);
  // `handler` is the worker's own root handler (with its own caches);
  // `body_route` picks the requests whose bodies it takes as they arrive.
  // Given after the worker is made (handlers that use its loop are made
  // after it), before it starts.
  void SetHandler(Handler handler, std::function<BodyRoute(const Request&)> body_route);
  // Each connection an HTTP session (for Worker::AddListener).
  SessionFactory Factory();

  void OnSettings(const Settings& s) override;
  void OnTurnStart() override { RefreshDate(); }
  void OnTurnEnd() override;

 private:
  // Only through On(): made any other way it would have no owner and no
  // limits (the worker's Adopt gives both).
  explicit HttpSessions(Worker& worker);
  void RefreshDate();
  void OnRequestDone(const Request& req, int status, uint64_t bytes, int64_t micros);
  // A deferred handler's answer (`fill`), or with null its wake-up.
  void Deliver(uint64_t id, const std::function<void(Response&)>& fill);

  Worker* worker_;  // owns this; every call is on its loop
  Handler handler_;
  H1Context ctx_;
  std::string date_line_;
  int64_t date_second_ = 0;
  std::string access_batch_;
};

}  // namespace hearth

#pragma once
// Handlers hearth answers itself: the welcome page, /_hearth/health (which
// says only that the server is up: it is public, on every host),
// /_hearth/metrics (an admin or read token unless --metrics-public), and (only with
// HEARTH_TEST_ENDPOINTS=1) debug endpoints the end-to-end tests use: an echo
// of request bodies, a key-value pair through the store, a chunked stream,
// and the change stream's apply and digest.
#include <functional>
#include <string>
#include <vector>

#include "http/router.h"
#include "server/metrics.h"
#include "store/store.h"

namespace hearth {

struct BuiltinContext {
  int64_t start_mono_ms = 0;
  int workers = 0;
  std::function<std::vector<const WorkerMetrics*>()> metrics;
  std::function<int64_t()> open_connections;
  // More exposition lines from the parts (the proxy's counters), appended.
  std::function<std::string()> more_metrics;
  bool test_endpoints = false;
  // Test endpoints of the change stream: apply an encoded entry to the
  // database it names (`done` on the writer thread), the bytes its blob and
  // file ops name read from the data folder `bytes_from` ("": none), and
  // every database's logical digest (and its site's record files') as JSON,
  // read on reader `reader`.
  std::function<void(std::shared_ptr<const std::string> entry, std::string bytes_from,
                     std::function<void(Status)> done)>
      apply_entry;
  std::function<Result<std::string>(int reader)> digests;
  // With a streaming backup: its state for the health answer ("ok",
  // "behind", "failing"); null without one.
  std::function<std::string()> backup_state;
  int schema_version = 0;  // of hearth.db
  // /_hearth/metrics answers everyone (--metrics-public); otherwise
  // `authorize` (a request and this worker's reader) decides: 0 to answer, or
  // the status to refuse with and why. Null: public.
  bool metrics_public = false;
  std::function<int(const Request&, int reader, std::string* why)> authorize;
  std::function<void(Response&, int status, const std::string& why)> refuse;
};

// `store` and `worker_index` (whose reader connection this worker uses) serve
// the test endpoints' key-value pairs.
void AddBuiltinRoutes(Router* router, const BuiltinContext* ctx, store::Store* store,
                      int worker_index);

// The page at / when hearth serves nothing else.
void ServeWelcome(Request& req, Response& res);

}  // namespace hearth

#pragma once
// Sites: multi-tenant static sites stored in hearth.db as content-addressed
// blobs, with atomic, versioned deploys.
//
// A deploy is three steps, each an API call (see docs/sites.md):
//   1. POST manifest (path -> hash, size): the server records a pending
//      version and answers with the hashes it lacks;
//   2. PUT each missing blob (its SHA-256 is checked);
//   3. publish: one transaction makes the version live.
// A pending version is invisible until step 3; a crash anywhere leaves the
// live version as it was.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "api/routes.h"
#include "base/background.h"
#include "base/notifier.h"
#include "base/result.h"
#include "http/router.h"
#include "sites/mount.h"
#include "store/store.h"

namespace hearth::sites {

// The gates a site's request passes before its mounts, each given by the
// part that owns it (the composition root wires them), so the site handler
// names no part. Every gate must be set: a part that is off (no HTTPS, no
// ACME) sets its gate to one that lets every request through, so "off" is
// said, never a gate forgotten. The workers refuse to start with a gate unset
// (GatesProblem): failing closed per request has no safe meaning here (an
// unset rate limit would refuse every limited site, an unset redirect would
// send everything to an HTTPS port that may not exist).
struct FrontGates {
  // ACME's HTTP-01: the answer to the challenge `token`, served at
  // /.well-known/acme-challenge/TOKEN on any host (nullopt: none).
  std::function<std::optional<std::string>(std::string_view token)> acme_answer;
  // Whether `host` (lower case) has a certificate: its plain-HTTP requests
  // are redirected to HTTPS on `https_port` (0: no HTTPS, no redirect).
  std::function<bool(std::string_view host)> has_certificate;
  int https_port = 0;
  // The site's rate limit (`rate` requests/s per client address, `burst`):
  // true if `req` may pass; false after answering `res` (429).
  std::function<bool(const Request& req, Response& res, const std::string& site, int64_t rate,
                     int64_t burst)>
      rate_limit;
};

// Which gate is unset ("" if none): the composition root refuses to start.
std::string GatesProblem(const FrontGates& gates);

// Checks a site's proxy settings as a client sent them: the normalized JSON
// text to store, or why they are refused.
using ProxyCheck = std::function<Result<std::string>(const nlohmann::json& settings)>;

// Shared by every worker's handlers.
struct SitesShared {
  BackgroundQueue background;  // compressed variants at deploy
  store::Store* store = nullptr;
  std::string spool_dir;  // where large uploads wait (the data folder)
  uint64_t max_blob_size = 64ull << 20;
  size_t max_files = 100000;
  std::atomic<int64_t> keep_versions{20};  // published versions kept per site
  // Bumped after every commit that changes what a host serves; workers drop
  // their cached routing when they see a new value.
  std::atomic<uint64_t> generation{1};
  // The ACME challenge, the HTTPS redirect, the sites' rate limits.
  FrontGates gates;
  // A site's "proxy" settings in the API (null: refused, nothing proxies).
  ProxyCheck check_proxy;
  // Called after a committed change to sites or their hosts (ACME looks again).
  std::function<void()> on_routing_changed;
  // Notified after the same changes (a deploy, a rollback, a site's hosts):
  // the console's open sites pages redraw.
  Notifier changes;
  // --admin-host: the console's name, which the default site never serves
  // (it would share the console's origin). Empty: none.
  std::string admin_host;
};

// After a committed change to what hosts serve: workers reload their routing
// (the generation), ACME looks again, the console's live pages redraw.
void RoutingChanged(SitesShared* shared);
// Calls RoutingChanged once per committed batch (or applied entry) that
// changed sites, their hosts or their versions, whoever wrote it: registered
// on the sites' store before its first write.
void ObserveRouting(SitesShared* shared, store::Store* store);

// Registers the sites' control API routes (sites, deploys, blobs, versions,
// rollback) under /_hearth/api/.
Status AddApiRoutes(api::RouteTable* table, SitesShared* shared);

// Whether a site is named `name` (normalized), read on reader `reader`.
bool SiteExists(SitesShared* shared, int reader, const std::string& name);

// A site the config file declares: created if missing (with its hosts), its
// proxy (JSON text, empty: none) and rate limits set as given. Synchronous
// (a write through the store); for start-up and SIGHUP.
Status DeclareSite(SitesShared* shared, const std::string& name,
                   const std::vector<std::string>& hosts, const std::string& proxy_json,
                   int64_t rate_limit, int64_t rate_burst);

// Serves sites by Host, per worker (with its own caches). Requests for a host
// no site claims go to `fallback`.
class SiteHandler {
 public:
  // `mounts`: what serves a site's requests besides its files (mount.h),
  // each checked by MountProblem first. `admit`: runs expensive work in its
  // turn (null: at once).
  using Admit = std::function<void(Request&, Response&, const Handler&)>;
  // Refuses (with GatesProblem's or MountProblem's line) shared->gates with a
  // gate unset or a faulty mount: the only way to make one, so no
  // composition can build a handler whose gates fail open or throw.
  static Result<std::shared_ptr<SiteHandler>> Make(SitesShared* shared, int reader,
                                                   Handler fallback,
                                                   std::vector<SiteMount> mounts = {},
                                                   Admit admit = nullptr);
  void Serve(Request& req, Response& res);
  // Whether this request's body streams to the mount that takes it (the
  // proxy's upstream).
  bool StreamsBody(const Request& req);

  // What a response for one file in one encoding needs, built on its first
  // request and kept: later hits cost no SQLite read and no allocation.
  struct Prepared {
    std::shared_ptr<const std::string> data;  // null for a large blob: it streams
    uint64_t size = 0;
    std::string etag;
    std::string fields;
  };

 private:
  SiteHandler(SitesShared* shared, int reader, Handler fallback, std::vector<SiteMount> mounts,
              Admit admit);

  struct File {
    std::string hash;
    uint64_t size;
    unsigned variants = 0;                        // bit i: kEncodings[i] is stored
    std::shared_ptr<const Prepared> prepared[4];  // [0] identity, [1 + i] kEncodings[i]
  };
  using Files = std::unordered_map<std::string, File>;
  struct Route {
    int64_t site_id = 0;
    std::string name;          // the site's name (its app database's)
    int64_t live_version = 0;  // 0: nothing published yet
    bool spa = false;
    bool hsts = false;
    int64_t expires_at = 0;  // previews: unix seconds after which it is gone
    bool no_such_preview = false;
    SiteInfo info;
    std::vector<std::shared_ptr<const void>> states;  // one per mount (mounts_)
    int64_t rate_limit = 0;                           // requests/s per client address (0: none)
    int64_t rate_burst = 0;
  };
  // The mount that takes `req` (null: the site's files), `route` its host's.
  const SiteMount* MountFor(const Route& route, const Request& req, size_t* index) const;
  // Whether `req` (not over TLS) is for a host with a certificate: it is
  // redirected to HTTPS.
  bool RedirectsToHttps(const Request& req) const;

  const Route* LookupHost(const std::string& host);
  void ServeSite(Request& req, Response& res, const Route& route);
  Files* VersionFiles(int64_t version);
  // The blob's bytes, or its variant in `encoding` (-1: the original).
  std::shared_ptr<const std::string> Blob(const std::string& hash, int encoding);
  // The size of the stored representation, or nullopt if it is missing.
  std::optional<uint64_t> BlobSize(const std::string& hash, int encoding, uint64_t identity_size);
  // [start, start + len) of a large blob, read in pieces as the client takes them.
  std::function<bool(std::string&)> BlobStream(const std::string& hash, int encoding,
                                               uint64_t start, uint64_t len);
  void ServeFile(Request& req, Response& res, const std::string& path, File& f, int status);

  void Refresh();
  SitesShared* shared_;
  int reader_;
  Handler fallback_;
  std::vector<SiteMount> mounts_;  // by priority, highest first
  Admit admit_;
  uint64_t generation_ = 0;
  std::unordered_map<std::string, Route> hosts_;  // site_id 0: no site
  std::unordered_map<int64_t, std::unique_ptr<Files>> versions_;
  uint64_t prepared_bytes_ = 0;  // file contents held by Prepared entries
  std::string scratch_;
};

}  // namespace hearth::sites

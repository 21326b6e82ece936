#include "server/builtin.h"

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/strings.h"
#include "base/version.h"

namespace hearth {
namespace {

constexpr const char* kWelcome = R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hearth is running</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.8rem; margin-bottom: .2rem; }
  code { background: #f3f0ea; padding: .1rem .3rem; border-radius: 4px; }
  .flame { color: #d9480f; }
</style>
</head>
<body>
<h1><span class="flame">&#128293;</span> hearth is running</h1>
<p>This is the welcome page: no site is being served yet.</p>
<ul>
  <li>Serve a folder: <code>hearth serve --root ./public</code></li>
  <li>Health: <a href="/_hearth/health"><code>/_hearth/health</code></a></li>
  <li>Metrics (Prometheus): <a href="/_hearth/metrics"><code>/_hearth/metrics</code></a></li>
  <li>Settings: <code>hearth config</code>, and <code>hearth serve --help</code></li>
</ul>
</body>
</html>
)";

}  // namespace

void ServeWelcome(Request& req, Response& res) {
  if (req.path != "/") {
    res.SetError(404);
    return;
  }
  if (req.method != Method::kGet && req.method != Method::kHead) {
    res.SetError(405);
    res.SetHeader("Allow", "GET, HEAD");
    return;
  }
  res.SetText(200, "text/html; charset=utf-8", kWelcome);
}

void AddBuiltinRoutes(Router* router, const BuiltinContext* ctx, store::Store* store,
                      int worker_index) {
  router->Add("", "/_hearth/health", [ctx](Request& req, Response& res) {
    if (req.method != Method::kGet && req.method != Method::kHead) {
      res.SetError(405);
      res.SetHeader("Allow", "GET, HEAD");
      return;
    }
    // Public on every host, so it tells nothing an attacker could use (the
    // version, the load): those are in the metrics, which need a token.
    // The backup's state is one word, and says nothing about the data.
    std::string backup = ctx->backup_state ? ctx->backup_state() : "";
    res.SetText(200, "application/json",
                backup.empty() ? "{\"status\":\"ok\"}\n"
                               : "{\"status\":\"ok\",\"backup\":\"" + backup + "\"}\n");
    res.SetHeader("Cache-Control", "no-store");
  });
  router->Add("", "/_hearth/metrics", [ctx, worker_index](Request& req, Response& res) {
    if (req.method != Method::kGet && req.method != Method::kHead) {
      res.SetError(405);
      res.SetHeader("Allow", "GET, HEAD");
      return;
    }
    if (!ctx->metrics_public && ctx->authorize) {
      std::string why;
      if (int status = ctx->authorize(req, worker_index, &why); status != 0)
        return ctx->refuse(res, status, why);
    }
    double uptime = static_cast<double>(MonoNowMillis() - ctx->start_mono_ms) / 1000.0;
    std::string text = RenderPrometheus(ctx->metrics(), uptime);
    if (ctx->more_metrics) text += ctx->more_metrics();
    res.SetText(200, "text/plain; version=0.0.4; charset=utf-8", std::move(text));
    res.SetHeader("Cache-Control", "no-store");
  });
  if (ctx->test_endpoints) {
    router->Add("", "/_hearth/debug/echo", [](Request& req, Response& res) {
      std::string len;
      AppendUint(&len, req.body.size());
      res.SetText(200, "application/octet-stream", req.body);
      res.SetHeader("X-Body-Length", len);
    });
    // A durable key-value pair through the store: PUT answers once its write is
    // committed (a deferred response, woken by the writer thread); GET reads
    // on this worker's own connection.
    router->Add("", "/_hearth/debug/kv/", [store, worker_index](Request& req, Response& res) {
      std::string key =
          "debug:" + std::string(req.path.substr(std::string_view("/_hearth/debug/kv/").size()));
      if (req.method == Method::kPut) {
        auto reply = res.Defer();
        std::string value = std::move(req.body);
        store->SubmitWrite(
            [key, value](store::Connection& c) {
              return c.Named("meta.put").Bind(1, key).Bind(2, value).Run();
            },
            [reply](const Status& st) {
              std::string why = st.ok() ? "" : st.error().message;
              reply->Finish([why](Response& r) {
                if (why.empty())
                  r.status = 204;
                else
                  r.SetError(500, why);
              });
            });
        return;
      }
      store::Statement st = store->Reader(worker_index).Named("meta.get");
      st.Bind(1, key);
      Status status = OkStatus();
      if (st.Step(&status)) {
        res.SetText(200, "application/octet-stream", std::string(st.Text(0)));
      } else {
        res.SetError(status.ok() ? 404 : 500);
      }
    });
    // POST an encoded change-stream entry: applied to the database it names
    // (204), or the refusal (409, e.g. divergence); ?bytes-from=<data
    // folder> says where the bytes of its blob and file ops are. GET
    // digest: every database's logical digest.
    router->Add("", "/_hearth/debug/apply", [ctx](Request& req, Response& res) {
      if (req.method != Method::kPost || !ctx->apply_entry) return res.SetError(405);
      std::string bytes_from;
      constexpr std::string_view kFrom = "bytes-from=";
      if (req.query.substr(0, kFrom.size()) == kFrom)
        bytes_from = DecodePathSegment(req.query.substr(kFrom.size()));
      auto reply = res.Defer();
      ctx->apply_entry(std::make_shared<const std::string>(std::move(req.body)), bytes_from,
                       [reply](Status st) {
                         std::string why = st.ok() ? "" : st.error().message;
                         reply->Finish([why](Response& r) {
                           if (why.empty())
                             r.status = 204;
                           else
                             r.SetText(409, "text/plain; charset=utf-8", why + "\n");
                         });
                       });
    });
    router->Add("", "/_hearth/debug/digest", [ctx, worker_index](Request&, Response& res) {
      if (!ctx->digests) return res.SetError(404);
      auto d = ctx->digests(worker_index);
      if (!d.ok()) return res.SetError(500, d.error().message);
      res.SetText(200, "application/json", *d);
    });
    router->Add("", "/_hearth/debug/stream", [](Request& req, Response& res) {
      // A body of unknown length, sent chunked: N pieces of "piece i\n".
      uint64_t n = 3;
      ParseUint(req.query.substr(0, req.query.find('&')), &n);
      auto i = std::make_shared<uint64_t>(0);
      res.status = 200;
      res.SetHeader("Content-Type", "text/plain; charset=utf-8");
      res.body_kind = Response::BodyKind::kStream;
      res.stream = [i, n](std::string& out) {
        if (*i >= n) return false;
        out = "piece " + std::to_string((*i)++) + "\n";
        return *i < n;
      };
    });
  }
}

}  // namespace hearth

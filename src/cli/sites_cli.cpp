#include "cli/sites_cli.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "base/strings.h"
#include "cli/client.h"
#include "crypto/hash.h"
#include "sites/manifest.h"

namespace hearth::cli {
namespace fs = std::filesystem;
using nlohmann::json;

struct SitesCli::State {
  ClientOptions client;
  std::vector<CLI::Option*> server_opts, token_opts;  // one per verb; any given counts
  CLI::App *deploy = nullptr, *sites = nullptr, *sites_list = nullptr, *sites_add = nullptr,
           *sites_rm = nullptr, *sites_set = nullptr, *versions = nullptr, *rollback = nullptr,
           *token = nullptr, *token_create = nullptr;
  std::string dir, site, message, token_name = "cli";
  std::vector<std::string> hosts;
  int64_t to = 0;
  bool spa = false, is_default = false, preview = false;
  std::string preview_ttl = "24h";
  std::optional<bool> set_spa, set_default, set_hsts;
  // Reverse proxy (sites add/set).
  std::vector<std::string> proxy;
  std::string policy, proxy_path, health_path, health_interval, connect_timeout, first_byte_timeout,
      idle_timeout;
  bool no_proxy = false;
  std::optional<int64_t> rate_limit, rate_burst;
};

namespace {

int Fail(const std::string& message) {
  fprintf(stderr, "hearth: %s\n", message.c_str());
  return 1;
}

std::string HumanBytes(uint64_t b) {
  char buf[32];
  if (b < 1024)
    snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(b));
  else if (b < (1 << 20))
    snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else if (b < (1ull << 30))
    snprintf(buf, sizeof buf, "%.1f MiB", b / 1048576.0);
  else
    snprintf(buf, sizeof buf, "%.2f GiB", b / 1073741824.0);
  return buf;
}

Result<std::string> HashFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return Error{"cannot read " + p.string()};
  crypto::Sha256 hash;
  char buf[1 << 16];
  while (f.read(buf, sizeof buf) || f.gcount() > 0)
    hash.Update(std::string_view(buf, static_cast<size_t>(f.gcount())));
  return hash.HexDigest();
}

// The URL a site answers at, given the server the CLI talks to.
std::string SiteUrl(const std::string& server, const std::string& host) {
  std::string scheme = server.substr(0, server.find("://"));
  std::string rest = server.substr(server.find("://") + 3);
  std::string port;
  size_t colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']', colon) == std::string::npos)
    port = rest.substr(colon);
  if ((scheme == "http" && port == ":80") || (scheme == "https" && port == ":443")) port.clear();
  return scheme + "://" + host + port + "/";
}

struct LocalFile {
  std::string path;  // relative, '/'-separated
  fs::path full;
  uint64_t size;
  std::string hash;
};

Result<std::vector<LocalFile>> Collect(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Error{"\"" + dir + "\" is not a folder"};
  std::vector<LocalFile> out;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return Error{"cannot read \"" + dir + "\": " + ec.message()};
  for (; it != end; it.increment(ec)) {
    if (ec) return Error{"cannot read \"" + dir + "\": " + ec.message()};
    std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.' && name != ".well-known") {  // .git, .env, .DS_Store
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    std::error_code fe;
    if (!it->is_regular_file(fe)) continue;  // folders, sockets, broken symlinks
    LocalFile f;
    f.full = it->path();
    f.path = fs::relative(it->path(), dir, fe).generic_string();
    f.size = static_cast<uint64_t>(it->file_size(fe));
    if (fe) return Error{"cannot read " + it->path().string() + ": " + fe.message()};
    auto h = HashFile(f.full);
    if (!h.ok()) return h.error();
    f.hash = *h;
    out.push_back(std::move(f));
  }
  if (out.empty()) return Error{"\"" + dir + "\" has no files to deploy"};
  return out;
}

int RunDeploy(SitesCli::State& s) {
  auto files = Collect(s.dir);
  if (!files.ok()) return Fail(files.error().message);
  json manifest = {{"message", s.message}, {"files", json::array()}};
  std::map<std::string, const LocalFile*> by_hash;
  uint64_t total = 0;
  for (const auto& f : *files) {
    manifest["files"].push_back({{"path", f.path}, {"hash", f.hash}, {"size", f.size}});
    by_hash[f.hash] = &f;
    total += f.size;
  }
  auto created = CallApi(s.client, "POST", "/sites/" + s.site + "/deploys", manifest.dump());
  if (!created.ok()) return Fail(created.error().message);
  int64_t version = created->body["version"].get<int64_t>();
  const json& missing = created->body["missing"];
  bool tty = isatty(2) && !s.client.json;
  size_t done = 0;
  uint64_t sent = 0;
  for (const auto& h : missing) {
    const LocalFile* f = by_hash[h.get<std::string>()];
    auto put = UploadFile(s.client, "/blobs/" + f->hash, f->full.string());
    if (!put.ok()) {
      if (tty) fprintf(stderr, "\n");
      return Fail("uploading " + f->path + ": " + put.error().message);
    }
    ++done;
    sent += f->size;
    if (tty) {
      int width = 30;
      int filled = missing.empty() ? width : static_cast<int>(width * done / missing.size());
      fprintf(stderr, "\r[%s%s] %zu/%zu files, %s",
              std::string(static_cast<size_t>(filled), '#').c_str(),
              std::string(static_cast<size_t>(width - filled), ' ').c_str(), done, missing.size(),
              HumanBytes(sent).c_str());
      fflush(stderr);
    }
  }
  if (tty && !missing.empty()) fprintf(stderr, "\n");
  json publish = json::object();
  if (s.preview) {
    int64_t ms;
    if (!ParseDurationMillis(s.preview_ttl, &ms) || ms < 1000)
      return Fail("--preview-ttl: expected a duration such as 30m, 24h or 7d... (at least 1s)");
    publish = {{"preview", true}, {"ttl_seconds", ms / 1000}};
  }
  auto published =
      CallApi(s.client, "POST", "/deploys/" + std::to_string(version) + "/publish", publish.dump());
  if (!published.ok()) return Fail(published.error().message);
  std::string url =
      SiteUrl(s.client.server, s.preview ? std::to_string(version) + ".preview." + s.site : s.site);
  if (s.client.json) {
    printf("%s\n", json({{"site", s.site},
                         {"version", version},
                         {"url", url},
                         {"preview", s.preview},
                         {"files", files->size()},
                         {"uploaded", done},
                         {"bytes", total},
                         {"uploaded_bytes", sent}})
                       .dump()
                       .c_str());
  } else {
    printf("%s %s version %lld\nuploaded %zu of %zu files (%s)\n%s\n",
           s.preview ? "preview of" : "deployed", s.site.c_str(), static_cast<long long>(version),
           done, files->size(), HumanBytes(sent).c_str(), url.c_str());
  }
  return 0;
}

std::string Time(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  tm g;
  gmtime_r(&t, &g);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &g);
  return buf;
}

// The proxy settings the flags give, as the API takes them; null when no
// --proxy was given (then the other proxy flags are an error).
Result<json> ProxyBody(const SitesCli::State& s) {
  bool any = !s.policy.empty() || !s.proxy_path.empty() || !s.health_path.empty() ||
             !s.health_interval.empty() || !s.connect_timeout.empty() ||
             !s.first_byte_timeout.empty() || !s.idle_timeout.empty();
  if (s.proxy.empty()) {
    if (any) return Error{"proxy settings need at least one --proxy http://host:port"};
    return json(nullptr);
  }
  json p = {{"upstreams", s.proxy}};
  if (!s.policy.empty()) p["policy"] = s.policy;
  if (!s.proxy_path.empty()) p["path"] = s.proxy_path;
  if (!s.health_path.empty()) p["health_path"] = s.health_path;
  std::pair<const std::string*, const char*> durations[] = {
      {&s.health_interval, "health_interval_ms"},
      {&s.connect_timeout, "connect_timeout_ms"},
      {&s.first_byte_timeout, "first_byte_timeout_ms"},
      {&s.idle_timeout, "idle_timeout_ms"}};
  for (auto [text, key] : durations) {
    if (text->empty()) continue;
    int64_t ms = 0;
    if (!ParseDurationMillis(*text, &ms))
      return Error{"invalid duration \"" + *text + "\" (e.g. 5s, 250ms, 2m)"};
    p[key] = ms;
  }
  return p;
}

}  // namespace

void SitesCli::Register(CLI::App* app) {
  s_ = std::make_shared<State>();
  State& s = *s_;
  auto client_flags = [&s](CLI::App* sub) {
    AddClientFlags(sub, &s.client, &s.server_opts, &s.token_opts);
  };
  s.deploy = app->add_subcommand(
      "deploy", "Deploy a folder as a new version of a site, uploading only changed files");
  s.deploy->add_option("dir", s.dir, "folder to deploy")->required();
  s.deploy->add_option("--site", s.site, "host name of the site (created if new)")->required();
  s.deploy->add_option("--message,-m", s.message, "a note kept with the version");
  s.deploy->add_flag("--preview", s.preview,
                     "publish as a preview at its own URL; the live version stays");
  s.deploy->add_option("--preview-ttl", s.preview_ttl, "how long a preview lives [default: 24h]");
  client_flags(s.deploy);

  s.sites = app->add_subcommand("sites", "List, add or remove sites");
  client_flags(s.sites);
  s.sites->fallthrough();  // --server, --token, --json also after "list", "add", ...
  s.sites_list = s.sites->add_subcommand("list", "List sites (the default)");
  s.sites_add = s.sites->add_subcommand("add", "Add a site");
  s.sites_add->add_option("host", s.site, "its host name, e.g. blog.example.com or *.example.com")
      ->required();
  s.sites_add->add_option("--host", s.hosts, "another host name it answers to (repeatable)");
  s.sites_add->add_flag("--spa", s.spa, "single-page app: unknown paths serve index.html");
  s.sites_add->add_flag("--default", s.is_default, "serve hosts that no site claims");
  auto proxy_flags = [&s](CLI::App* sub) {
    sub->add_option("--proxy", s.proxy,
                    "forward requests to this upstream, http://host:port (repeatable)");
    sub->add_option(
        "--policy", s.policy,
        "how an upstream is picked: round_robin (default), least_conn, ip_hash, random_two");
    sub->add_option("--proxy-path", s.proxy_path,
                    "forward only paths under this prefix, e.g. /app/ (the rest are the site's "
                    "files) [default: /]");
    sub->add_option("--health-path", s.health_path,
                    "check each upstream with GET PATH; failing ones get no requests");
    sub->add_option("--health-interval", s.health_interval,
                    "time between health checks [default: 5s]");
    sub->add_option("--connect-timeout", s.connect_timeout,
                    "give up connecting to an upstream after this [default: 5s]");
    sub->add_option("--first-byte-timeout", s.first_byte_timeout,
                    "answer 504 if the upstream has not answered after this [default: 60s]");
    sub->add_option("--idle-timeout", s.idle_timeout,
                    "end a proxied exchange quiet for this long [default: 5m]");
    sub->add_option("--rate-limit", s.rate_limit,
                    "requests per second per client address to this site (429 past it); 0 = none");
    sub->add_option(
        "--rate-burst", s.rate_burst,
        "requests a client may send at once before --rate-limit applies; 0 = twice the rate");
  };
  proxy_flags(s.sites_add);
  s.sites_set = s.sites->add_subcommand("set", "Change a site's options");
  s.sites_set->add_option("host", s.site, "the site's name")->required();
  s.sites_set->add_option("--spa", s.set_spa, "single-page app: true or false");
  s.sites_set->add_option("--default", s.set_default,
                          "serve hosts that no site claims: true or false");
  s.sites_set->add_option("--hsts", s.set_hsts,
                          "send Strict-Transport-Security over HTTPS: true or false");
  proxy_flags(s.sites_set);
  s.sites_set->add_flag("--no-proxy", s.no_proxy, "stop proxying: serve only the site's files");
  s.sites_rm = s.sites->add_subcommand("rm", "Remove a site and all its versions");
  s.sites_rm->add_option("host", s.site, "the site's name")->required();

  s.versions = app->add_subcommand("versions", "List a site's versions");
  s.versions->add_option("--site", s.site, "host name of the site")->required();
  client_flags(s.versions);

  s.rollback = app->add_subcommand("rollback", "Make an earlier version live again (instant)");
  s.rollback->add_option("--site", s.site, "host name of the site")->required();
  s.rollback->add_option("--to", s.to,
                         "version to make live [default: the one before the live one]");
  client_flags(s.rollback);

  s.token = app->add_subcommand("token", "API tokens");
  client_flags(s.token);
  s.token->fallthrough();
  s.token_create = s.token->add_subcommand("create", "Create a token (printed once)");
  s.token_create->add_option("--name", s.token_name, "what the token is for");
  s.token->require_subcommand(1);
}

int SitesCli::RunIfParsed() {
  State& s = *s_;
  CLI::App* verbs[] = {s.deploy, s.sites, s.versions, s.rollback, s.token};
  bool any = false;
  for (auto* v : verbs) any = any || v->parsed();
  if (!any) return -1;
  bool server_given = false, token_given = false;
  for (auto* o : s.server_opts) server_given = server_given || o->count() > 0;
  for (auto* o : s.token_opts) token_given = token_given || o->count() > 0;
  if (Status st = ResolveClient(&s.client, server_given, token_given); !st.ok())
    return Fail(st.error().message);
  if (!s.site.empty()) {
    auto host = sites::NormalizeHost(s.site);
    if (!host.ok()) return Fail(host.error().message);
    s.site = *host;
  }
  for (auto& h : s.hosts) {
    auto host = sites::NormalizeHost(h);
    if (!host.ok()) return Fail(host.error().message);
    h = *host;
  }

  if (s.deploy->parsed()) return RunDeploy(s);
  if (s.sites->parsed()) {
    if (s.sites_add->parsed()) {
      json body = {{"name", s.site}, {"hosts", s.hosts}, {"spa", s.spa}, {"default", s.is_default}};
      auto proxy = ProxyBody(s);
      if (!proxy.ok()) return Fail(proxy.error().message);
      if (!proxy->is_null()) body["proxy"] = *proxy;
      if (s.rate_limit) body["rate_limit"] = *s.rate_limit;
      if (s.rate_burst) body["rate_burst"] = *s.rate_burst;
      auto r = CallApi(s.client, "POST", "/sites", body.dump());
      if (!r.ok()) return Fail(r.error().message);
      if (s.client.json)
        printf("%s\n", r->body.dump().c_str());
      else
        printf("added site %s\n", r->body["name"].get<std::string>().c_str());
      return 0;
    }
    if (s.sites_set->parsed()) {
      json body = json::object();
      if (s.set_spa) body["spa"] = *s.set_spa;
      if (s.set_default) body["default"] = *s.set_default;
      if (s.set_hsts) body["hsts"] = *s.set_hsts;
      auto proxy = ProxyBody(s);
      if (!proxy.ok()) return Fail(proxy.error().message);
      if (s.no_proxy && !proxy->is_null())
        return Fail("--no-proxy and --proxy contradict each other");
      if (s.no_proxy)
        body["proxy"] = nullptr;
      else if (!proxy->is_null())
        body["proxy"] = *proxy;
      if (s.rate_limit) body["rate_limit"] = *s.rate_limit;
      if (s.rate_burst) body["rate_burst"] = *s.rate_burst;
      if (body.empty())
        return Fail(
            "nothing to change: give --spa, --default, --hsts, --proxy, --no-proxy or "
            "--rate-limit");
      auto r = CallApi(s.client, "PATCH", "/sites/" + s.site, body.dump());
      if (!r.ok()) return Fail(r.error().message);
      if (s.client.json)
        printf("%s\n", r->body.dump().c_str());
      else
        printf("updated site %s\n", s.site.c_str());
      return 0;
    }
    if (s.sites_rm->parsed()) {
      auto r = CallApi(s.client, "DELETE", "/sites/" + s.site, "");
      if (!r.ok()) return Fail(r.error().message);
      if (s.client.json)
        printf("%s\n", r->body.dump().c_str());
      else
        printf("removed site %s\n", s.site.c_str());
      return 0;
    }
    auto r = CallApi(s.client, "GET", "/sites", "");
    if (!r.ok()) return Fail(r.error().message);
    if (s.client.json) {
      printf("%s\n", r->body.dump().c_str());
      return 0;
    }
    if (r->body.empty()) printf("no sites yet: hearth deploy DIR --site HOST\n");
    for (const auto& site : r->body) {
      std::string hosts;
      for (const auto& h : site["hosts"])
        hosts += (hosts.empty() ? "" : ", ") + h.get<std::string>();
      std::string live = site["live_version"].is_null()
                             ? "-"
                             : std::to_string(site["live_version"].get<int64_t>());
      printf("%-32s live %-6s %s", site["name"].get<std::string>().c_str(), live.c_str(),
             hosts.c_str());
      if (site.contains("proxy") && site["proxy"].is_object()) {
        std::string ups;
        for (const auto& u : site["proxy"]["upstreams"])
          ups += (ups.empty() ? "" : " ") + u.get<std::string>();
        printf("  proxy %s -> %s", site["proxy"]["path"].get<std::string>().c_str(), ups.c_str());
      }
      printf("\n");
    }
    return 0;
  }
  if (s.versions->parsed()) {
    auto r = CallApi(s.client, "GET", "/sites/" + s.site + "/versions", "");
    if (!r.ok()) return Fail(r.error().message);
    if (s.client.json) {
      printf("%s\n", r->body.dump().c_str());
      return 0;
    }
    printf("%-8s %-4s %-21s %7s %12s  %s\n", "VERSION", "LIVE", "PUBLISHED", "FILES", "BYTES",
           "MESSAGE");
    for (const auto& v : r->body["versions"]) {
      printf("%-8lld %-4s %-21s %7lld %12lld  %s\n",
             static_cast<long long>(v["version"].get<int64_t>()), v["live"].get<bool>() ? "*" : "",
             v["published_at"].is_null() ? "-" : Time(v["published_at"].get<int64_t>()).c_str(),
             static_cast<long long>(v["files"].get<int64_t>()),
             static_cast<long long>(v["bytes"].get<int64_t>()),
             v["message"].get<std::string>().c_str());
    }
    return 0;
  }
  if (s.rollback->parsed()) {
    json body = json::object();
    if (s.to > 0) body["to"] = s.to;
    auto r = CallApi(s.client, "POST", "/sites/" + s.site + "/rollback", body.dump());
    if (!r.ok()) return Fail(r.error().message);
    if (s.client.json)
      printf("%s\n", r->body.dump().c_str());
    else
      printf("%s is now at version %lld\n", s.site.c_str(),
             static_cast<long long>(r->body["live_version"].get<int64_t>()));
    return 0;
  }
  if (s.token_create->parsed()) {
    auto r = CallApi(s.client, "POST", "/tokens", json({{"name", s.token_name}}).dump());
    if (!r.ok()) return Fail(r.error().message);
    if (s.client.json)
      printf("%s\n", r->body.dump().c_str());
    else
      printf("%s\n", r->body["token"].get<std::string>().c_str());
    return 0;
  }
  return -1;
}

}  // namespace hearth::cli

#include "server/settings.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
// Header-only: the shared library would pull the system libstdc++ back in.
#define TOML_HEADER_ONLY 1
#include <toml++/toml.h>

#include "base/strings.h"
#include "guard/cidr.h"
#include "io/socket.h"
#include "proxy/upstream.h"
#include "sites/manifest.h"

namespace hearth {
namespace {

using T = SettingType;
using S = Settings;
const std::vector<SettingSpec> kSettingSpecs = {
    {"data", T::kString, &S::data, "./hearth-data", "data folder (created if missing)", false, 1},
    {"http", T::kAddress, &S::http, "127.0.0.1:8080",
     "HTTP listen address, HOST:PORT (port 0 picks a free one)", false, 1},
    {"https", T::kAddress, &S::https, "",
     "HTTPS listen address, HOST:PORT (empty: no HTTPS); sites with a certificate redirect HTTP "
     "here",
     false},
    {"acme-email", T::kString, &S::acme_email, "",
     "with --https: get certificates for the sites' hosts automatically (ACME), with this contact "
     "email",
     false},
    {"acme-directory", T::kString, &S::acme_directory,
     "https://acme-v02.api.letsencrypt.org/directory", "the ACME CA's directory URL", false, 1},
    {"acme-challenges", T::kString, &S::acme_challenges, "http-01,tls-alpn-01",
     "ACME challenge types to answer, the preferred first (http-01: port 80; tls-alpn-01: port "
     "443)",
     false, 1},
    {"acme-ask", T::kString, &S::acme_ask, "",
     "on-demand certificates for names that are no site's: GET URL?domain=NAME must answer 2xx",
     false},
    {"acme-ca-root", T::kString, &S::acme_ca_root, "",
     "a PEM file to trust for the ACME CA's own HTTPS (a test CA such as pebble)", false},
    {"root", T::kString, &S::root, "",
     "serve this folder as a static site (like caddy file-server)", false},
    {"admin-host", T::kString, &S::admin_host, "",
     "serve the admin console (/_hearth/) on this host name only (empty: any host no site claims)",
     false},
    {"metrics-public", T::kBool, &S::metrics_public, "false",
     "answer /_hearth/metrics without a token (otherwise it needs an admin or read token: "
     "Authorization: Bearer ...)",
     false},
    {"workers", T::kInt, &S::workers, "0",
     "worker threads, each with its own event loop; 0 = one per core", false, 0, 1024},
    {"log-level", T::kLogLevel, &S::log_level, "info", "debug, info, warn or error", true},
    {"access-log", T::kString, &S::access_log, "off",
     "access log (NDJSON): off, stderr, or a file path (reopened on SIGHUP)", true, 1},
    {"max-connections", T::kInt, &S::max_connections, "10000",
     "open connections at most; past it, new ones wait in the kernel's queue", true, 1, 10000000},
    {"max-header-size", T::kSize, &S::max_header_size, "16KiB",
     "request line and header fields at most (431 past it)", true, 256, 1 << 20},
    {"max-target-size", T::kSize, &S::max_target_size, "8KiB",
     "request target at most (414 past it)", true, 16, 1 << 20},
    {"max-body-size", T::kSize, &S::max_body_size, "64MiB", "request body at most (413 past it)",
     true},
    {"api-max-json-size", T::kSize, &S::api_max_json_size, "4MiB",
     "a data API JSON body (or @jsonPayload part) at most (413 past it); files are bounded by "
     "max-body-size",
     false, 1024, 1ll << 30},
    {"header-timeout", T::kDuration, &S::header_timeout_ms, "10s",
     "time a client has to send a whole request head", true},
    {"body-timeout", T::kDuration, &S::body_timeout_ms, "30s",
     "longest pause while a request body arrives", true},
    {"keepalive-timeout", T::kDuration, &S::keepalive_timeout_ms, "60s",
     "idle keep-alive connections close after this", true},
    {"write-timeout", T::kDuration, &S::write_timeout_ms, "30s",
     "longest a client may take to accept response bytes", true},
    {"shutdown-timeout", T::kDuration, &S::shutdown_timeout_ms, "30s",
     "on SIGTERM, how long in-flight requests may take to finish", true},
    {"file-cache-size", T::kSize, &S::file_cache_size, "64MiB",
     "per worker: memory for the contents of small static files", false},
    {"keep-versions", T::kInt, &S::keep_versions, "20",
     "published versions kept per site (older ones and their unused files are deleted)", true, 1,
     10000},
    {"change-log", T::kBool, &S::change_log, "false",
     "keep every commit as an entry in DATA/log: the change stream that streaming backups and "
     "replicas read (see it with `hearth log dump`)",
     false},
    {"backup-every", T::kDuration, &S::backup_every_ms, "0",
     "take a backup of hearth.db into DATA/backups this often; 0 = never", false},
    {"backup-keep", T::kInt, &S::backup_keep, "7", "periodic backups kept (the oldest are deleted)",
     true, 1, 100000},
    {"backup-to", T::kString, &S::backup_to, "",
     "stream every commit to this backup target: s3://bucket/prefix or file:///path (turns the "
     "change log on); restore with `hearth restore --from`",
     false},
    {"backup-endpoint", T::kString, &S::backup_endpoint, "",
     "S3 endpoint for --backup-to s3://… (e.g. http://127.0.0.1:9000 for MinIO); empty = AWS",
     false},
    {"backup-region", T::kString, &S::backup_region, "us-east-1", "S3 region for --backup-to",
     false},
    {"backup-key-id", T::kString, &S::backup_key_id, "", "S3 access key id for --backup-to", false},
    {"backup-secret", T::kString, &S::backup_secret, "",
     "S3 secret access key for --backup-to (prefer the environment: flags show in `ps`)", false, 0,
     INT64_MAX, true},
    {"backup-upload-every", T::kDuration, &S::backup_upload_every_ms, "500ms",
     "how often new commits go up to --backup-to (the most a kill -9 of the machine can lose)",
     false, 10, 3600000},
    {"backup-snapshot-every", T::kDuration, &S::backup_snapshot_every_ms, "24h",
     "how often --backup-to gets a fresh copy of every database (restores replay from it)", false,
     1000},
    {"backup-retention", T::kDuration, &S::backup_retention_ms, "7d",
     "how far back --backup-to stays restorable (older snapshots, entries and bytes are deleted); "
     "0 = keep everything",
     false},
    {"allow", T::kCidrList, &S::allow, "",
     "only these client addresses connect, CIDR list (e.g. \"10.0.0.0/8, 2001:db8::/32\"); empty: "
     "all",
     true},
    {"deny", T::kCidrList, &S::deny, "", "these client addresses are refused at connect, CIDR list",
     true},
    {"trusted-proxies", T::kCidrList, &S::trusted_proxies, "",
     "peers whose X-Forwarded-For / Forwarded name the client (a CDN, a load balancer), CIDR list",
     true},
    {"client-ip-header", T::kString, &S::client_ip_header, "x-forwarded-for",
     "the field trusted proxies name the client in: x-forwarded-for or forwarded (RFC 7239)", true,
     1},
    {"rate-limit", T::kInt, &S::rate_limit, "0",
     "requests per second per client address, across all sites (429 past it); 0 = no limit", true,
     0, 10000000},
    {"rate-burst", T::kInt, &S::rate_burst, "0",
     "requests a client may send at once before rate-limit applies; 0 = twice the rate", true, 0,
     100000000},
    {"max-connections-per-ip", T::kInt, &S::max_connections_per_ip, "512",
     "open connections per client address; 0 = no limit (trusted proxies are exempt)", true, 0,
     10000000},
    {"admission-max", T::kInt, &S::admission_max, "256",
     "per worker: expensive requests (proxied, data API) in flight at once; more wait in a queue; "
     "0 = no bound",
     true, 0, 1000000},
    {"admission-queue", T::kInt, &S::admission_queue, "1024",
     "per worker: expensive requests that may wait for a turn; past it, 503 + Retry-After", true, 0,
     10000000},
    {"admission-wait", T::kDuration, &S::admission_wait_ms, "10s",
     "longest an expensive request waits for its turn (then 503 + Retry-After)", true},
    {"min-body-rate", T::kSize, &S::min_body_rate, "1KiB",
     "bytes per second a request body must average after its first 10 s (408 below it); 0 = no "
     "minimum",
     true},
};

// Parses `text` as the spec's type into its field of *s; on failure *why says
// what was expected.
bool ParseInto(const SettingSpec& spec, std::string_view text, Settings* s, std::string* why) {
  switch (spec.type) {
    case T::kString:
      if (spec.min > 0 && text.empty()) {
        *why = "must not be empty";
        return false;
      }
      if (std::string_view(spec.name) == "client-ip-header" && text != "x-forwarded-for" &&
          text != "forwarded") {
        *why = "expected x-forwarded-for or forwarded";
        return false;
      }
      s->*std::get<std::string S::*>(spec.field) = text;
      return true;
    case T::kAddress: {
      if (text.empty() && spec.min == 0) {
        s->*std::get<std::string S::*>(spec.field) = "";
        return true;
      }
      auto a = ParseListenAddress(text);
      if (!a.ok()) {
        *why = a.error().message;
        return false;
      }
      s->*std::get<std::string S::*>(spec.field) = text;
      return true;
    }
    case T::kInt: {
      uint64_t v;
      if (!ParseUint(text, &v) || static_cast<int64_t>(v) < spec.min ||
          static_cast<int64_t>(v) > spec.max) {
        *why = "expected a whole number from " + std::to_string(spec.min) + " to " +
               std::to_string(spec.max);
        return false;
      }
      s->*std::get<int64_t S::*>(spec.field) = static_cast<int64_t>(v);
      return true;
    }
    case T::kSize: {
      uint64_t v;
      if (!ParseSize(text, &v)) {
        *why = "expected a size such as 16KiB, 1MiB or 1048576";
        return false;
      }
      if (static_cast<int64_t>(v) < spec.min || static_cast<int64_t>(v) > spec.max) {
        *why = "must be from " + FormatSize(static_cast<uint64_t>(spec.min)) + " to " +
               FormatSize(static_cast<uint64_t>(spec.max));
        return false;
      }
      s->*std::get<uint64_t S::*>(spec.field) = v;
      return true;
    }
    case T::kDuration: {
      int64_t ms;
      if (!ParseDurationMillis(text, &ms)) {
        *why = "expected a duration such as 500ms, 10s, 5m, 1h or 7d";
        return false;
      }
      if (ms < spec.min || ms > spec.max) {
        *why =
            "must be from " + std::to_string(spec.min) + "ms to " +
            (spec.max == INT64_MAX ? std::string("any length") : std::to_string(spec.max) + "ms");
        return false;
      }
      s->*std::get<int64_t S::*>(spec.field) = ms;
      return true;
    }
    case T::kCidrList: {
      auto list = guard::CidrList::Parse(text);
      if (!list.ok()) {
        *why = list.error().message;
        return false;
      }
      s->*std::get<std::string S::*>(spec.field) = text;
      return true;
    }
    case T::kBool:
      if (text == "true" || text == "1" || text == "yes" || text == "on") {
        s->*std::get<bool S::*>(spec.field) = true;
      } else if (text == "false" || text == "0" || text == "no" || text == "off") {
        s->*std::get<bool S::*>(spec.field) = false;
      } else {
        *why = "expected true or false";
        return false;
      }
      return true;
    case T::kLogLevel:
      if (!ParseLogLevel(text, &(s->*std::get<LogLevel S::*>(spec.field)))) {
        *why = "expected debug, info, warn or error";
        return false;
      }
      return true;
  }
  return false;
}

// [sites."app.example.com"]: proxy = ["http://127.0.0.1:3000"], policy,
// proxy_path, health_path, health_interval, connect_timeout,
// first_byte_timeout, idle_timeout, hosts = [...], rate_limit, rate_burst.
Result<std::vector<DeclaredSite>> ParseDeclaredSites(const toml::table& sites,
                                                     const std::string& file) {
  std::vector<DeclaredSite> out;
  for (auto&& [key, node] : sites) {
    std::string where = "config " + file + ": sites.\"" + std::string(key.str()) + "\"";
    const toml::table* t = node.as_table();
    if (!t) return Error{where + " must be a table"};
    auto name = sites::NormalizeHost(key.str());
    if (!name.ok()) return Error{where + ": " + name.error().message};
    DeclaredSite d;
    d.name = *name;
    nlohmann::json proxy = nlohmann::json::object();
    auto strings = [&](const toml::node& n, const char* what) -> Result<std::vector<std::string>> {
      std::vector<std::string> v;
      if (auto s = n.value_exact<std::string>()) {
        v.push_back(*s);
      } else if (const toml::array* a = n.as_array()) {
        for (auto&& item : *a) {
          auto s2 = item.value_exact<std::string>();
          if (!s2) return Error{where + ": " + what + " must be a list of strings"};
          v.push_back(*s2);
        }
      } else {
        return Error{where + ": " + what + " must be a string or a list of strings"};
      }
      return v;
    };
    for (auto&& [k2, v] : *t) {
      std::string k(k2.str());
      if (k == "proxy") {
        auto ups = strings(v, "proxy");
        if (!ups.ok()) return ups.error();
        proxy["upstreams"] = *ups;
      } else if (k == "hosts") {
        auto hs = strings(v, "hosts");
        if (!hs.ok()) return hs.error();
        for (const auto& h : *hs) {
          auto n = sites::NormalizeHost(h);
          if (!n.ok()) return Error{where + ": hosts: " + n.error().message};
          if (*n != d.name) d.hosts.push_back(*n);
        }
      } else if (k == "policy" || k == "proxy_path" || k == "health_path") {
        auto s = v.value_exact<std::string>();
        if (!s) return Error{where + ": " + k + " must be a string"};
        proxy[k == "proxy_path" ? "path" : k] = *s;
      } else if (k == "health_interval" || k == "connect_timeout" || k == "first_byte_timeout" ||
                 k == "idle_timeout") {
        auto s = v.value_exact<std::string>();
        int64_t ms = 0;
        if (!s || !ParseDurationMillis(*s, &ms))
          return Error{where + ": " + k + " must be a duration such as \"5s\""};
        proxy[k + "_ms"] = ms;
      } else if (k == "rate_limit" || k == "rate_burst") {
        auto i = v.value_exact<int64_t>();
        if (!i || *i < 0 || *i > 100000000)
          return Error{where + ": " + k + " must be a whole number from 0 to 100000000"};
        (k == "rate_limit" ? d.rate_limit : d.rate_burst) = *i;
      } else {
        return Error{where + ": unknown key \"" + k + "\""};
      }
    }
    if (!proxy.empty()) {
      if (!proxy.contains("upstreams"))
        return Error{where + ": proxy settings need proxy = [\"http://host:port\"]"};
      auto c = proxy::ParseProxyConfig(proxy);
      if (!c.ok()) return Error{where + ": " + c.error().message};
      d.proxy_json = proxy::ProxyConfigToJson(*c).dump();
    }
    out.push_back(std::move(d));
  }
  return out;
}

const SettingSpec* FindSpec(std::string_view name) {
  for (const auto& s : kSettingSpecs)
    if (name == s.name) return &s;
  return nullptr;
}

}  // namespace

const std::vector<SettingSpec>& SettingSpecs() {
  return kSettingSpecs;
}

std::string EnvNameFor(std::string_view setting) {
  std::string out = "HEARTH_";
  for (char c : setting)
    out.push_back(c == '-' ? '_' : static_cast<char>(toupper(static_cast<unsigned char>(c))));
  return out;
}

bool IsReservedEnv(std::string_view name) {
  return name == "HEARTH_TEST_ENDPOINTS" || name == "HEARTH_TEST_PAUSE_AT" ||
         name == "HEARTH_TEST_BACKUP_UPKEEP" || name == "HEARTH_TOKEN" || name == "HEARTH_SERVER" ||
         name == "HEARTH_BIN" || name == "HEARTH_CONFIG";
}

Result<Settings> LoadSettings(const std::string& config_path, char** env,
                              const std::map<std::string, std::string>& flags) {
  std::map<std::string, Settings::Origin> layers;
  for (const auto& spec : kSettingSpecs) layers[spec.name] = {spec.default_text, "default"};
  std::vector<DeclaredSite> declared_sites;

  if (!config_path.empty()) {
    toml::table tbl;
    try {
      tbl = toml::parse_file(config_path);
    } catch (const toml::parse_error& e) {
      std::ostringstream msg;
      msg << "config " << config_path << ":" << e.source().begin.line << ": " << e.description();
      return Error{msg.str()};
    }
    for (auto&& [key, node] : tbl) {
      std::string k(key.str());
      if (k == "sites" && node.is_table()) {
        auto declared = ParseDeclaredSites(*node.as_table(), config_path);
        if (!declared.ok()) return declared.error();
        declared_sites = std::move(declared).value();
        continue;
      }
      if (!FindSpec(k)) return Error{"config " + config_path + ": unknown setting \"" + k + "\""};
      std::string text;
      if (auto v = node.value_exact<std::string>())
        text = *v;
      else if (auto i = node.value_exact<int64_t>())
        text = std::to_string(*i);
      else if (auto b = node.value_exact<bool>())
        text = *b ? "true" : "false";
      else
        return Error{"config " + config_path + ": setting \"" + k +
                     "\" must be a string or a number"};
      layers[k] = {text, "config"};
    }
  }
  if (env) {
    for (char** e = env; *e; ++e) {
      std::string_view kv(*e);
      if (kv.substr(0, 7) != "HEARTH_") continue;
      size_t eq = kv.find('=');
      std::string_view name = kv.substr(0, eq);
      std::string_view value =
          eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1);
      if (IsReservedEnv(name)) continue;
      const SettingSpec* found = nullptr;
      for (const auto& spec : kSettingSpecs)
        if (EnvNameFor(spec.name) == name) found = &spec;
      if (!found)
        return Error{"unknown environment variable " + std::string(name) +
                     " (not a hearth setting)"};
      layers[found->name] = {std::string(value), "env"};
    }
  }
  for (const auto& [name, value] : flags) {
    if (!FindSpec(name)) return Error{"unknown setting \"" + name + "\""};
    layers[name] = {value, "flag"};
  }

  Settings s;
  for (const auto& spec : kSettingSpecs) {
    const auto& origin = layers[spec.name];
    std::string why;
    if (!ParseInto(spec, origin.text, &s, &why)) {
      std::string where = origin.source == "env"      ? " (from " + EnvNameFor(spec.name) + ")"
                          : origin.source == "config" ? " (from " + config_path + ")"
                          : origin.source == "flag"   ? " (from --" + std::string(spec.name) + ")"
                                                      : "";
      return Error{"invalid value \"" + origin.text + "\" for " + spec.name + where + ": " + why};
    }
  }
  s.origins = std::move(layers);
  s.sites = std::move(declared_sites);
  return s;
}

std::string RenderSettingsToml(const Settings& s) {
  std::string out;
  for (const auto& spec : kSettingSpecs) {
    const auto& o = s.origins.at(spec.name);
    out += spec.name;
    out += " = ";
    if (spec.secret && !o.text.empty())
      out += "\"***\"";
    else if (spec.type == SettingType::kInt)
      out += o.text;
    else if (spec.type == SettingType::kBool)
      out += s.*std::get<bool Settings::*>(spec.field) ? "true" : "false";
    else
      out += nlohmann::json(o.text).dump();
    out += "  # " + o.source + (spec.live ? "" : ", restart to change") + "\n";
  }
  return out;
}

std::string RenderSettingsJson(const Settings& s) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& spec : kSettingSpecs) {
    const auto& o = s.origins.at(spec.name);
    j[spec.name] = {{"value", spec.secret && !o.text.empty() ? std::string("***") : o.text},
                    {"source", o.source},
                    {"live", spec.live},
                    {"help", spec.help}};
  }
  return j.dump(2) + "\n";
}

}  // namespace hearth

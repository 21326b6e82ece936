#pragma once
// Settings are declared once, in kSettingSpecs (settings.cpp): name, type,
// default, help, and whether a running server picks up a change on SIGHUP.
// Command-line flags, the TOML file (--config), HEARTH_* environment variables,
// validation and `hearth config` all come from that table.
//
// Precedence, lowest first: default < TOML file < environment < flag.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/log.h"
#include "base/result.h"

namespace hearth {

// A site declared in the config file ([sites."HOST"]): created if missing,
// its proxy and rate limits set to what the file says, at start and on SIGHUP.
struct DeclaredSite {
  std::string name;
  std::vector<std::string> hosts;  // besides the name
  std::string proxy_json;          // normalized (src/proxy/upstream.h); empty: no proxy
  int64_t rate_limit = 0;
  int64_t rate_burst = 0;
};

struct Settings {
  std::string data;
  std::string http;
  std::string https;
  std::string acme_email;
  std::string acme_directory;
  std::string acme_ca_root;
  std::string acme_challenges;
  std::string acme_ask;
  std::string root;
  std::string admin_host;
  bool metrics_public = false;  // /_hearth/metrics without a token
  int64_t workers = 0;
  LogLevel log_level = LogLevel::kInfo;
  std::string access_log;
  int64_t max_connections = 0;
  uint64_t max_header_size = 0;
  uint64_t max_target_size = 0;
  uint64_t max_body_size = 0;
  uint64_t api_max_json_size = 0;
  int64_t header_timeout_ms = 0;
  int64_t body_timeout_ms = 0;
  int64_t keepalive_timeout_ms = 0;
  int64_t write_timeout_ms = 0;
  int64_t shutdown_timeout_ms = 0;
  uint64_t file_cache_size = 0;
  int64_t keep_versions = 0;
  int64_t backup_every_ms = 0;
  bool change_log = false;
  int64_t backup_keep = 0;
  // Streaming backup (stream/uploader.h): on when backup_to is set.
  std::string backup_to;  // s3://bucket/prefix or file:///path
  std::string backup_endpoint, backup_region, backup_key_id, backup_secret;
  int64_t backup_upload_every_ms = 0;
  int64_t backup_snapshot_every_ms = 0;
  int64_t backup_retention_ms = 0;  // 0: nothing is deleted from the target
  // Guard (see src/guard/guard.h).
  std::string allow, deny, trusted_proxies;  // CIDR lists
  std::string client_ip_header;
  int64_t rate_limit = 0;
  int64_t rate_burst = 0;
  int64_t max_connections_per_ip = 0;
  uint64_t min_body_rate = 0;
  int64_t admission_max = 0, admission_queue = 0, admission_wait_ms = 0;

  std::vector<DeclaredSite> sites;  // from the config file's [sites."HOST"] tables

  // name -> the text it was given and where it came from.
  struct Origin {
    std::string text;
    std::string source;  // "default", "config", "env", "flag"
  };
  std::map<std::string, Origin> origins;
};

enum class SettingType { kString, kInt, kSize, kDuration, kLogLevel, kAddress, kCidrList, kBool };

using SettingField = std::variant<std::string Settings::*, int64_t Settings::*,
                                  uint64_t Settings::*, LogLevel Settings::*, bool Settings::*>;

struct SettingSpec {
  const char* name;  // flag "--name", TOML key "name", env HEARTH_NAME (dashes -> underscores)
  SettingType type;
  SettingField field;
  const char* default_text;
  const char* help;
  bool live;        // applied on SIGHUP without a restart
  int64_t min = 0;  // kInt, kSize: inclusive bounds; kString, kAddress: 1 = must not be empty
  int64_t max = INT64_MAX;
  bool secret = false;  // printed as *** by `hearth config` (and never logged)
};

const std::vector<SettingSpec>& SettingSpecs();
std::string EnvNameFor(std::string_view setting);  // "max-body-size" -> "HEARTH_MAX_BODY_SIZE"

// Environment variables starting with HEARTH_ that are not settings but are
// still allowed (read elsewhere).
bool IsReservedEnv(std::string_view name);

// Builds settings from the layers. `flags` holds only the flags actually given.
// `config_path` may be empty. `env` is environ-style ("NAME=value"). Errors are
// one line and name the key and where it came from.
Result<Settings> LoadSettings(const std::string& config_path, char** env,
                              const std::map<std::string, std::string>& flags);

// "name = value" lines in TOML, with the source as a comment.
std::string RenderSettingsToml(const Settings& s);
std::string RenderSettingsJson(const Settings& s);

}  // namespace hearth

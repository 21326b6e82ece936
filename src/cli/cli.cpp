#include "cli/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "base/log.h"
#include "base/version.h"
#include "cli/admins_cli.h"
#include "cli/backups_cli.h"
#include "cli/cert_cli.h"
#include "cli/data_cli.h"
#include "cli/log_cli.h"
#include "cli/sites_cli.h"
#include "cli/tokens_cli.h"
#include "server/offline.h"
#include "server/server.h"
#include "server/settings.h"

extern char** environ;

namespace hearth {
namespace {

// Flags come from the settings table: each setting is "--name VALUE" on the
// verbs that take settings.
struct SettingFlags {
  std::string config_path;
  std::map<std::string, std::string> values;
  std::map<std::string, CLI::Option*> options;

  void AddTo(CLI::App* app) {
    app->add_option("--config", config_path, "TOML file with settings (same names as the flags)")
        ->check(CLI::ExistingFile);
    for (const auto& spec : SettingSpecs()) {
      std::string help = std::string(spec.help) +
                         " [default: " + (spec.default_text[0] ? spec.default_text : "none") +
                         "; env " + EnvNameFor(spec.name) + "]";
      if (spec.type == SettingType::kBool) {
        // "--name" alone is true; "--name=false" also works.
        options[spec.name] = app->add_flag("--" + std::string(spec.name), values[spec.name], help);
        continue;
      }
      options[spec.name] = app->add_option("--" + std::string(spec.name), values[spec.name], help)
                               ->type_name(spec.type == SettingType::kDuration ? "DURATION"
                                           : spec.type == SettingType::kSize   ? "SIZE"
                                           : spec.type == SettingType::kInt    ? "N"
                                                                               : "VALUE");
    }
  }
  std::map<std::string, std::string> Given() const {
    std::map<std::string, std::string> out;
    for (const auto& [name, opt] : options)
      if (opt->count() > 0) out[name] = values.at(name);
    return out;
  }
};

int Fail(const std::string& message) {
  fprintf(stderr, "hearth: %s\n", message.c_str());
  return 1;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"hearth: a web platform in one binary — static sites, apps, data, TLS."};
  app.name("hearth");
  app.set_help_all_flag("--help-all", "Show help for every command");

  SettingFlags serve_flags, config_flags;
  bool config_json = false;

  CLI::App* serve = app.add_subcommand(
      "serve", "Run the server (with no flags: data in ./hearth-data, HTTP on 127.0.0.1:8080)");
  serve_flags.AddTo(serve);
  CLI::App* config = app.add_subcommand(
      "config", "Print the effective settings (defaults, config file, environment, flags)");
  config_flags.AddTo(config);
  config->add_flag("--json", config_json, "Print JSON instead of TOML");
  CLI::App* version = app.add_subcommand("version", "Print the version");
  std::string backup_out, restore_file, backup_data = "./hearth-data";
  CLI::App* backup = app.add_subcommand(
      "backup", "Write a consistent copy of hearth.db to a file (safe while the server runs)");
  backup->add_option("--out", backup_out, "the file to write")->required();
  backup->add_option("--data", backup_data, "data folder [default: ./hearth-data]");
  CLI::App* restore = app.add_subcommand(
      "restore",
      "Replace the data folder's hearth.db with a backup file, or rebuild the whole data folder "
      "from a streaming backup with --from (stop the server first)");
  CLI::Option* restore_file_opt =
      restore->add_option("file", restore_file, "a file written by hearth backup");
  restore->add_option("--data", backup_data, "data folder [default: ./hearth-data]");
  cli::SitesCli sites_cli;
  sites_cli.Register(&app);
  cli::DataCli data_cli;
  data_cli.Register(&app);
  cli::CertCli cert_cli;
  cert_cli.Register(&app);
  cli::AdminsCli admins_cli;
  admins_cli.Register(&app);
  cli::TokensCli tokens_cli;
  tokens_cli.Register(&app);
  cli::BackupsCli backups_cli;
  backups_cli.Register(&app);
  backups_cli.RegisterRestore(restore);
  cli::LogCli log_cli;
  log_cli.Register(&app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    for (auto& c : msg)
      if (c == '\n') c = ' ';
    fprintf(stderr, "hearth: %s (see hearth --help)\n", msg.c_str());
    return 2;
  }

  if (version->parsed()) {
    printf("hearth %s\n", kVersion);
    return 0;
  }
  if (config->parsed()) {
    auto s = LoadSettings(config_flags.config_path, environ, config_flags.Given());
    if (!s.ok()) return Fail(s.error().message);
    fputs((config_json ? RenderSettingsJson(*s) : RenderSettingsToml(*s)).c_str(), stdout);
    return 0;
  }
  if (int code = sites_cli.RunIfParsed(); code >= 0) return code;
  if (int code = data_cli.RunIfParsed(); code >= 0) return code;
  if (int code = cert_cli.RunIfParsed(); code >= 0) return code;
  if (int code = admins_cli.RunIfParsed(); code >= 0) return code;
  if (int code = tokens_cli.RunIfParsed(); code >= 0) return code;
  if (int code = backups_cli.RunIfParsed(); code >= 0) return code;
  if (int code = log_cli.RunIfParsed(); code >= 0) return code;
  if (backup->parsed()) {
    if (Status st = BackupFolder(backup_data, backup_out); !st.ok())
      return Fail(st.error().message);
    printf("backup written to %s\n", backup_out.c_str());
    return 0;
  }
  if (int code = backups_cli.RunRestoreIfFrom(backup_data, restore_file_opt->count() > 0);
      code >= 0)
    return code;
  if (restore->parsed()) {
    if (!restore_file_opt->count())
      return Fail("restore needs a backup FILE, or --from URL for a streaming backup");
    if (Status st = RestoreFolder(restore_file, backup_data); !st.ok())
      return Fail(st.error().message);
    printf("restored %s/hearth.db from %s\n", backup_data.c_str(), restore_file.c_str());
    return 0;
  }
  if (serve->parsed()) {
    ServeOptions opts;
    opts.config_path = serve_flags.config_path;
    opts.flags = serve_flags.Given();
    auto s = LoadSettings(opts.config_path, environ, opts.flags);
    if (!s.ok()) return Fail(s.error().message);
    opts.settings = std::move(s).value();
    Server::BlockSignals();
    auto srv = Server::Start(std::move(opts));
    if (!srv.ok()) return Fail(srv.error().message);
    return (*srv)->RunUntilSignalled();
  }
  std::cout << app.help();
  return 0;
}

}  // namespace hearth

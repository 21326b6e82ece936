#pragma once
// The HTTP client behind the CLI's client commands (deploy, sites, versions,
// rollback, token): they reach a running server's control API with a token.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hearth::cli {

struct ClientOptions {
  std::string server = "http://127.0.0.1:8080";
  std::string token;
  std::string data = "./hearth-data";  // where to find admin.token when --token is not given
  bool json = false;
};

// Adds the client verbs' --server, --token, --data and --json to `app`,
// bound to `opts`, in one place for every verb. The --server and --token
// options are appended to `server_opts` and `token_opts`: ResolveClient
// needs to know whether they came as flags.
void AddClientFlags(CLI::App* app, ClientOptions* opts, std::vector<CLI::Option*>* server_opts,
                    std::vector<CLI::Option*>* token_opts);

// Fills in the token from HEARTH_TOKEN or DATA/admin.token, and the server
// from HEARTH_SERVER, when they were not given as flags.
Status ResolveClient(ClientOptions* opts, bool server_given, bool token_given);

struct ApiResult {
  long status = 0;
  nlohmann::json body;  // parsed JSON, or null
};

// Calls the control API: `path` is below /_hearth/api. A 4xx/5xx answer is an
// Error with the server's message; so is a server that cannot be reached.
Result<ApiResult> CallApi(const ClientOptions& opts, const char* method, const std::string& path,
                          std::string_view body, const char* content_type = "application/json");

// PUTs a file to the control API, read as it is sent (a file of any size
// costs no memory); errors as CallApi.
Result<ApiResult> UploadFile(const ClientOptions& opts, const std::string& path,
                             const std::string& file);

}  // namespace hearth::cli

#include "cli/client.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>

#include "io/curl_lib.h"

namespace hearth::cli {
namespace {
size_t Collect(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}
size_t ReadFromFile(char* p, size_t size, size_t n, void* file) {
  size_t got = fread(p, 1, size * n, static_cast<FILE*>(file));
  return ferror(static_cast<FILE*>(file)) ? CURL_READFUNC_ABORT : got;
}

// One request to the control API; `body` sets how the request body is sent.
Result<ApiResult> Perform(const ClientOptions& o, const char* method, const std::string& path,
                          const char* content_type,
                          const std::function<void(const CurlLib&, CURL*)>& body,
                          bool allow_expect) {
  auto loaded = LoadCurl();
  if (!loaded.ok()) return loaded.error();
  const CurlLib& c = **loaded;
  CURL* curl = c.easy_init();
  if (!curl) return Error{"cannot start libcurl"};
  std::string url = o.server + "/_hearth/api" + path;
  std::string response;
  curl_slist* headers = nullptr;
  std::string auth = "Authorization: Bearer " + o.token;
  headers = c.slist_append(headers, auth.c_str());
  std::string ct = std::string("Content-Type: ") + content_type;
  headers = c.slist_append(headers, ct.c_str());
  // Small JSON bodies go at once; a file upload may wait for 100 Continue, so
  // a refused upload (bad token, too large) is not sent at all.
  if (!allow_expect) headers = c.slist_append(headers, "Expect:");
  c.easy_setopt(curl, CURLOPT_URL, url.c_str());
  c.easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  c.easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  c.easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  c.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  c.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  c.easy_setopt(curl, CURLOPT_TIMEOUT, 3600L);
  body(c, curl);
  c.easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  CURLcode rc = c.easy_perform(curl);
  ApiResult out;
  c.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  c.slist_free_all(headers);
  c.easy_cleanup(curl);
  if (rc != CURLE_OK && out.status == 0)
    return Error{"cannot reach the server at " + o.server + ": " + c.easy_strerror(rc) +
                 " (is `hearth serve` running? see --server)"};
  out.body = response.empty()
                 ? nlohmann::json::object()  // 204 No Content
                 : nlohmann::json::parse(response, nullptr, /*allow_exceptions=*/false);
  if (out.status >= 400) {
    std::string msg =
        out.body.is_object() && out.body.contains("error") && out.body["error"].is_string()
            ? out.body["error"].get<std::string>()
            : "the server answered " + std::to_string(out.status);
    if (out.status == 401) msg += " (check --token)";
    return Error{msg};
  }
  if (rc != CURLE_OK) return Error{std::string("the request failed: ") + c.easy_strerror(rc)};
  return out;
}
}  // namespace

Status ResolveClient(ClientOptions* o, bool server_given, bool token_given) {
  if (!server_given) {
    if (const char* s = getenv("HEARTH_SERVER"); s && *s) o->server = s;
  }
  while (!o->server.empty() && o->server.back() == '/') o->server.pop_back();
  if (o->server.rfind("http://", 0) != 0 && o->server.rfind("https://", 0) != 0)
    return Error{"--server must be a URL such as http://127.0.0.1:8080"};
  if (!token_given) {
    if (const char* t = getenv("HEARTH_TOKEN"); t && *t) {
      o->token = t;
    } else {
      std::ifstream f(o->data + "/admin.token");
      std::getline(f, o->token);
      if (o->token.empty())
        return Error{"no token: pass --token, set HEARTH_TOKEN, or run where " + o->data +
                     "/admin.token is readable (--data DIR)"};
    }
  }
  return OkStatus();
}

Result<ApiResult> CallApi(const ClientOptions& o, const char* method, const std::string& path,
                          std::string_view body, const char* content_type) {
  bool has_body = std::string_view(method) != "GET";
  return Perform(
      o, method, path, content_type,
      [&](const CurlLib& c, CURL* curl) {
        if (!has_body) return;
        c.easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
        c.easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      },
      false);
}

Result<ApiResult> UploadFile(const ClientOptions& o, const std::string& path,
                             const std::string& file) {
  FILE* f = fopen(file.c_str(), "rb");
  if (!f) return Error{"cannot read " + file + " (did it change during the deploy?)"};
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    fclose(f);
    return Error{"cannot read " + file};
  }
  auto r = Perform(
      o, "PUT", path, "application/octet-stream",
      [&](const CurlLib& c, CURL* curl) {
        c.easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        c.easy_setopt(curl, CURLOPT_READFUNCTION, ReadFromFile);
        c.easy_setopt(curl, CURLOPT_READDATA, f);
        c.easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(st.st_size));
      },
      true);
  fclose(f);
  return r;
}

void AddClientFlags(CLI::App* app, ClientOptions* opts, std::vector<CLI::Option*>* server_opts,
                    std::vector<CLI::Option*>* token_opts) {
  server_opts->push_back(app->add_option(
      "--server", opts->server,
      "URL of the running hearth [default: http://127.0.0.1:8080; env HEARTH_SERVER]"));
  token_opts->push_back(app->add_option(
      "--token", opts->token, "API token [default: env HEARTH_TOKEN, or DATA/admin.token]"));
  app->add_option("--data", opts->data,
                  "data folder whose admin.token to use [default: ./hearth-data]");
  app->add_flag("--json", opts->json, "print JSON for programs");
}

}  // namespace hearth::cli

#include "io/curl_lib.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "base/strings.h"

namespace hearth {

Result<const CurlLib*> LoadCurl() {
  static CurlLib lib;
  static std::string error;
  static std::once_flag once;
  std::call_once(once, [] {
    void* h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      error = std::string("cannot load libcurl (install the libcurl4 package): ") + dlerror();
      return;
    }
    auto sym = [&](const char* name) -> void* {
      void* p = dlsym(h, name);
      if (!p && error.empty()) error = std::string("libcurl lacks ") + name;
      return p;
    };
    lib.easy_init = reinterpret_cast<decltype(lib.easy_init)>(sym("curl_easy_init"));
    lib.easy_setopt = reinterpret_cast<decltype(lib.easy_setopt)>(sym("curl_easy_setopt"));
    lib.easy_perform = reinterpret_cast<decltype(lib.easy_perform)>(sym("curl_easy_perform"));
    lib.easy_getinfo = reinterpret_cast<decltype(lib.easy_getinfo)>(sym("curl_easy_getinfo"));
    lib.easy_cleanup = reinterpret_cast<decltype(lib.easy_cleanup)>(sym("curl_easy_cleanup"));
    lib.easy_strerror = reinterpret_cast<decltype(lib.easy_strerror)>(sym("curl_easy_strerror"));
    lib.slist_append = reinterpret_cast<decltype(lib.slist_append)>(sym("curl_slist_append"));
    lib.slist_free_all = reinterpret_cast<decltype(lib.slist_free_all)>(sym("curl_slist_free_all"));
  });
  if (!error.empty()) return Error{error};
  return &lib;
}

namespace {

struct Sink {
  std::string* body;
  size_t max;
  bool too_big = false;
};

size_t OnBody(char* data, size_t size, size_t n, void* arg) {
  auto* s = static_cast<Sink*>(arg);
  if (s->body->size() + size * n > s->max) {
    s->too_big = true;
    return 0;  // ends the transfer
  }
  s->body->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* out) {
  auto* h = static_cast<std::vector<std::pair<std::string, std::string>>*>(out);
  std::string_view line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string_view::npos && h->size() < 200) {
    std::string name;
    for (char ch : line.substr(0, colon)) name.push_back(AsciiLower(ch));
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.remove_suffix(1);
    h->emplace_back(name, std::string(TrimOws(v)));
  }
  return size * n;
}

int OnProgress(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
}

}  // namespace

Result<OutboundAnswer> Outbound(const OutboundRequest& r) {
  auto loaded = LoadCurl();
  if (!loaded.ok()) return loaded.error();
  const CurlLib& c = **loaded;
  if (r.cancel && r.cancel->load()) return Error{r.url + ": cancelled"};
  CURL* curl = c.easy_init();
  if (!curl) return Error{"cannot start an HTTP request"};
  OutboundAnswer out;
  Sink sink{&out.body, r.max_body};
  curl_slist* hs = nullptr;
  for (const auto& h : r.headers) hs = c.slist_append(hs, h.c_str());
  hs = c.slist_append(hs, "User-Agent: hearth");
  c.easy_setopt(curl, CURLOPT_URL, r.url.c_str());
  c.easy_setopt(curl, CURLOPT_HTTPHEADER, hs);
  c.easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  c.easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  c.easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  c.easy_setopt(curl, CURLOPT_HEADERDATA, &out.headers);
  c.easy_setopt(curl, CURLOPT_TIMEOUT_MS, r.timeout_ms);
  c.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  c.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
  c.easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "https,http");
  if (r.cancel) {
    c.easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    c.easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
    c.easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(r.cancel));
  }
  if (!r.ca_file.empty()) c.easy_setopt(curl, CURLOPT_CAINFO, r.ca_file.c_str());
  if (r.method == "POST") {
    c.easy_setopt(curl, CURLOPT_POST, 1L);
    c.easy_setopt(curl, CURLOPT_POSTFIELDS, r.body.data());
    c.easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(r.body.size()));
  } else if (r.method == "HEAD") {
    c.easy_setopt(curl, CURLOPT_NOBODY, 1L);
  }
  CURLcode rc = c.easy_perform(curl);
  if (rc == CURLE_OK) c.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  c.slist_free_all(hs);
  c.easy_cleanup(curl);
  if (sink.too_big)
    return Error{r.url + ": the answer is larger than " + std::to_string(r.max_body) + " bytes"};
  if (rc == CURLE_ABORTED_BY_CALLBACK) return Error{r.url + ": cancelled"};
  if (rc != CURLE_OK) return Error{r.url + ": " + c.easy_strerror(rc)};
  return out;
}

}  // namespace hearth

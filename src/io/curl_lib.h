#pragma once
// libcurl, loaded when first needed (dlopen) rather than linked: a running
// server that never makes an outbound request does not carry libcurl and its
// dependencies (GnuTLS, Kerberos, LDAP, ...) in memory, several MiB of RSS.
#include <curl/curl.h>

#include "base/result.h"

namespace hearth {

struct CurlLib {
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  void (*easy_cleanup)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

// The loaded library, or an error naming what is missing (libcurl4).
Result<const CurlLib*> LoadCurl();

}  // namespace hearth

#include <atomic>
#include <string>
#include <utility>
#include <vector>

namespace hearth {

// One bounded outbound HTTP(S) request made by the server itself (the ACME
// CA, an OCSP responder, the on-demand ask URL): http and https only, no
// signals, a whole-request timeout, an answer body no larger than
// `max_body` (larger is an error, read no further), and given up as soon as
// `*cancel` turns true (a stopping server does not wait for a far host).
struct OutboundRequest {
  std::string method = "GET";  // GET, HEAD or POST
  std::string url;
  std::string body;                  // POST only
  std::vector<std::string> headers;  // "Name: value"
  long timeout_ms = 30000;
  size_t max_body = 1 << 20;
  const std::atomic<bool>* cancel = nullptr;
  std::string ca_file;  // trust these roots instead of the system's ("": the system's)
};

struct OutboundAnswer {
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
};

// The answer (any status), or an error naming the URL and what failed.
Result<OutboundAnswer> Outbound(const OutboundRequest& request);

}  // namespace hearth

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

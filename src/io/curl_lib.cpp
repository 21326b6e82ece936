#include "io/curl_lib.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

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

}  // namespace hearth

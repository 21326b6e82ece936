// The admin console's own parsing of what browsers send: Cookie headers
// (CookieValue), form bodies (ParseQueryString), a folder upload's file
// names (FolderFiles, one per line here), the login's redirect target
// (SafeNext) and client network (ClientNetwork), admin emails and passwords,
// and that escaping what was parsed leaves no markup. No crash, no leak
// under ASan/UBSan.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/html.h"
#include "admin/login.h"
#include "admin/session.h"
#include "admin/upload.h"
#include "base/strings.h"
#include "control/admins_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view v = hearth::admin::CookieValue(in, hearth::admin::kSessionCookie);
  if (!v.empty() && (v.data() < in.data() || v.data() + v.size() > in.data() + in.size())) abort();
  std::vector<std::pair<std::string, std::string>> form;
  if (hearth::ParseQueryString(in, &form)) {
    for (const auto& [k, val] : form) {
      std::string e = hearth::admin::Escape(k) + hearth::admin::Escape(val);
      if (e.find_first_of("<>\"'") != std::string::npos) abort();
      (void)hearth::admin::UrlEncode(val);
    }
  }
  // After login only a console page is where the browser goes.
  std::string next = hearth::admin::SafeNext(in);
  if (next.rfind("/_hearth/", 0) != 0 || next.find("//") != std::string::npos) abort();
  (void)hearth::ClientNetwork(in);
  (void)hearth::DecodePathSegment(in);
  (void)hearth::control::AdminEmailProblem(in);
  (void)hearth::control::AdminPasswordProblem(in);
  std::vector<hearth::admin::UploadFile> parts;
  for (size_t start = 0; start <= in.size() && parts.size() < 64;) {
    size_t nl = in.find('\n', start);
    if (nl == std::string_view::npos) nl = in.size();
    parts.push_back({std::string(in.substr(start, nl - start)), "", 0, 0});
    start = nl + 1;
  }
  std::string error;
  auto files = hearth::admin::FolderFiles(parts, &error);
  if (files.empty() == error.empty()) abort();  // an error exactly when nothing is left
  for (const auto& f : files)
    if (f.path.empty()) abort();
  return 0;
}

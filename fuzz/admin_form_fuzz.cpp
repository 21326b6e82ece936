// The admin console's own parsing of what browsers send: Cookie headers
// (CookieValue) and form bodies (ParseQueryString), and that escaping what
// was parsed leaves no markup. No crash, no leak under ASan/UBSan.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/html.h"
#include "admin/session.h"
#include "base/strings.h"

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
  return 0;
}

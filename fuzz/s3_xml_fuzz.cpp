// Fuzzes what the S3 client reads from a server (or from a man in the middle
// over plain http): the bounded XML scanner and each answer built on it. Any
// bytes must end in a value or an error, within the bounds (no deep
// recursion, no quadratic blow-up); a parsed listing that says "truncated"
// always carries a continuation token, and escaping then parsing any text
// gives it back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "s3/xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  using namespace hearth::s3;
  auto root = ParseXml(in);
  if (root.ok() && root->name.empty()) __builtin_trap();
  auto page = ParseListPage(in);
  if (page.ok() && page->truncated && page->next_token.empty()) __builtin_trap();
  (void)ParseUploadId(in);
  (void)ParseErrorBody(in);
  (void)ParseCompleteResult(in);
  (void)ParseDeleteResult(in);
  // Text we send (keys in Delete, ETags in Complete) survives the round trip.
  if (size < 4096) {
    auto back = ParseXml("<K>" + XmlEscape(in) + "</K>");
    bool plain = true;  // control bytes and bare CR are not what XmlEscape promises to keep
    for (char c : in) plain = plain && c != '\0';
    if (plain && (!back.ok() || back->text != in)) __builtin_trap();
  }
  return 0;
}

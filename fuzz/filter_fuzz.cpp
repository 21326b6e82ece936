// libFuzzer target for the data API's filter language (src/data/filter.h):
// ParseFilter, then FilterToSql with a context that accepts every field path.
// Traps (__builtin_trap) when the SQL could carry request text: after the
// fixed fragments hearth writes itself ('%', '', '\'), no quote and no ';'
// may remain, and there is exactly one bound value per '?'.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "data/filter.h"
#include "data/schema.h"

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace {
void EraseAll(std::string* s, std::string_view what) {
  for (size_t p = s->find(what); p != std::string::npos; p = s->find(what))
    s->erase(p, what.size());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hearth::data;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = ParseFilter(text);
  if (!parsed.ok()) {
    CHECK(parsed.error().message.rfind("filter: ", 0) == 0);
    return 0;
  }
  FilterContext ctx;
  ctx.now = "2026-01-01 00:00:00.000Z";
  ctx.field = [](std::string_view path, bool* multi,
                 std::vector<SqlValue>*) -> hearth::Result<std::string> {
    *multi = path.size() % 3 == 0;  // some paths multi-valued, to reach json_each
    for (char c : path)
      CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.');
    return QuoteIdent(path);
  };
  ctx.auth = [](std::string_view n) -> SqlValue { return std::string(n); };
  ctx.body = [](std::string_view n) -> SqlValue { return std::string(n); };
  std::vector<SqlValue> params;
  auto sql = FilterToSql(**parsed, ctx, &params);
  if (!sql.ok()) return 0;
  std::string s = *sql;
  // Every placeholder is numbered, names a value, and every value is named.
  std::vector<bool> named(params.size(), false);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '?') continue;
    size_t j = i + 1, n = 0;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9')
      n = n * 10 + static_cast<size_t>(s[j++] - '0');
    CHECK(j > i + 1);
    CHECK(n >= 1 && n <= params.size());
    named[n - 1] = true;
  }
  for (bool b : named) CHECK(b);
  // Identifiers are quoted with ": drop them, then the fixed fragments.
  std::string bare;
  bool in_ident = false;
  for (char c : s) {
    if (c == '"')
      in_ident = !in_ident;
    else if (!in_ident)
      bare.push_back(c);
  }
  EraseAll(&bare, "'%'");  // a path on the right of ~ is wrapped in SQL
  EraseAll(&bare, "'\\'");
  EraseAll(&bare, "''");
  CHECK(bare.find('\'') == std::string::npos);
  CHECK(bare.find(';') == std::string::npos);
  CHECK(bare.find("--") == std::string::npos);
  return 0;
}

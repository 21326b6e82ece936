#pragma once
// The filter language of PocketBase's API (list `filter`, collection rules),
// parsed into parameterised SQL. No text from a request is ever pasted into
// SQL: literals become bound parameters, and every identifier is checked
// against the collection's fields and written by hearth itself.
//
// Grammar (precedence: || lowest, then &&, then comparisons):
//   expr    := and ( "||" and )*
//   and     := cmp ( "&&" cmp )*
//   cmp     := operand OP operand | "(" expr ")"
//   OP      := = != > >= < <= ~ !~   and the "any of" forms ?= ?!= ?> ?>= ?< ?<= ?~ ?!~
//              (for multi-valued fields: true when any element matches)
//   operand := 'string' | "string" | number | true | false | null
//            | path (letters, digits, _, and dots: title, author.name)
//            | @request.auth.FIELD | @request.body.FIELD | @now
//   comments: // to the end of a line
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"

namespace hearth::data {

// A value bound to a parameter.
using SqlValue = std::variant<std::nullptr_t, int64_t, double, std::string>;

struct FilterNode;
using FilterPtr = std::unique_ptr<FilterNode>;

// The parsed form (ParseFilter's output; FilterToSql's input).
struct Operand {
  enum class Kind { kString, kNumber, kBool, kNull, kPath, kAuth, kBody, kNow };
  Kind kind = Kind::kNull;
  std::string text;  // string value, path, or @request field name
  double number = 0;
  bool is_int = false;
  int64_t ival = 0;
  bool boolean = false;
};

struct FilterNode {
  enum class Kind { kAnd, kOr, kCmp };
  Kind kind = Kind::kCmp;
  std::vector<FilterPtr> children;  // kAnd, kOr
  Operand left, right;              // kCmp
  std::string op;                   // "=", "!=", ">", ">=", "<", "<=", "~", "!~"
  bool any = false;                 // the "?op" form
};

// Parses `text`; an Error's message says what and where ("filter: ... at 12").
// Limits: 4 KiB of text, 64 levels of nesting, 256 comparisons.
Result<FilterPtr> ParseFilter(std::string_view text);

// How identifiers and @request values become SQL, decided by the caller (the
// collection and the request at hand).
struct FilterContext {
  // A field path ("title", "author.name") as a SQL expression over the
  // collection's table, or an Error ("unknown field ...").  `multi` is set
  // for multi-valued fields (a JSON array column), whose SQL is then the
  // column holding the array. The expression may bind values of its own (a
  // related collection's view rule): it appends them to *params and names
  // them "?N" by their position there, as FilterToSql does.
  std::function<Result<std::string>(std::string_view path, bool* multi,
                                    std::vector<SqlValue>* params)>
      field;
  // @request.auth.X, @request.body.X: the value (null when absent).
  std::function<SqlValue(std::string_view name)> auth;
  std::function<SqlValue(std::string_view name)> body;
  std::string now;  // @now, as stored dates are written
};

// The node as a SQL boolean expression, appending bound values to *params.
// Every placeholder is numbered ("?N" for params[N-1]), never a bare "?":
// SQLite numbers a bare "?" after the largest number before it, so SQL put
// together from pieces would bind values to the wrong places.
//
// `~` and `!~` compare with LIKE as PocketBase does: a value with no
// unescaped % has its %, _ and \ escaped and is wrapped in %...% (contains);
// a value with an unescaped % is the caller's own pattern.
Result<std::string> FilterToSql(const FilterNode& node, const FilterContext& ctx,
                                std::vector<SqlValue>* params);

// A LIKE pattern from a `~` operand's value (see above).
std::string LikePattern(std::string_view value);

// "?N" for the value just appended to *params.
std::string Placeholder(const std::vector<SqlValue>& params);

}  // namespace hearth::data

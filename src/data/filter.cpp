#include "data/filter.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hearth::data {

namespace {

constexpr size_t kMaxText = 4096;
constexpr int kMaxDepth = 64;
constexpr int kMaxComparisons = 256;

bool IsIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '@';
}
bool IsIdentChar(char c) {
  return IsIdentStart(c) || (c >= '0' && c <= '9') || c == '.';
}
bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Result<FilterPtr> Parse() {
    if (s_.size() > kMaxText) return Error{"filter: longer than 4 KiB"};
    Skip();
    if (pos_ == s_.size()) return Error{"filter: empty"};
    auto e = Or(0);
    if (!e.ok()) return e;
    Skip();
    if (pos_ != s_.size()) return Fail("unexpected \"" + std::string(s_.substr(pos_, 10)) + "\"");
    return e;
  }

 private:
  Error Fail(const std::string& what) const {
    return Error{"filter: " + what + " at " + std::to_string(pos_ + 1)};
  }

  void Skip() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '/') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }
  bool Eat(std::string_view tok) {
    Skip();
    if (s_.substr(pos_, tok.size()) != tok) return false;
    pos_ += tok.size();
    return true;
  }

  Result<FilterPtr> Or(int depth) {
    if (depth > kMaxDepth) return Fail("nested too deeply");
    auto first = And(depth);
    if (!first.ok()) return first;
    if (!Peek("||")) return first;
    auto node = std::make_unique<FilterNode>();
    node->kind = FilterNode::Kind::kOr;
    node->children.push_back(std::move(first).value());
    while (Eat("||")) {
      auto next = And(depth);
      if (!next.ok()) return next;
      node->children.push_back(std::move(next).value());
    }
    return node;
  }
  Result<FilterPtr> And(int depth) {
    auto first = Cmp(depth);
    if (!first.ok()) return first;
    if (!Peek("&&")) return first;
    auto node = std::make_unique<FilterNode>();
    node->kind = FilterNode::Kind::kAnd;
    node->children.push_back(std::move(first).value());
    while (Eat("&&")) {
      auto next = Cmp(depth);
      if (!next.ok()) return next;
      node->children.push_back(std::move(next).value());
    }
    return node;
  }
  bool Peek(std::string_view tok) {
    Skip();
    return s_.substr(pos_, tok.size()) == tok;
  }
  Result<FilterPtr> Cmp(int depth) {
    if (Eat("(")) {
      auto inner = Or(depth + 1);
      if (!inner.ok()) return inner;
      if (!Eat(")")) return Fail("missing \")\"");
      return inner;
    }
    if (++comparisons_ > kMaxComparisons) return Fail("more than 256 comparisons");
    auto node = std::make_unique<FilterNode>();
    auto l = ParseOperand();
    if (!l.ok()) return l.error();
    node->left = std::move(l).value();
    Skip();
    node->any = Eat("?");
    static const char* kOps[] = {"!=", ">=", "<=", "!~", "=", ">", "<", "~"};  // longest first
    bool found = false;
    for (const char* op : kOps) {
      if (s_.substr(pos_, strlen(op)) == op) {
        node->op = op;
        pos_ += strlen(op);
        found = true;
        break;
      }
    }
    if (!found) return Fail("expected an operator (= != > >= < <= ~ !~)");
    auto r = ParseOperand();
    if (!r.ok()) return r.error();
    node->right = std::move(r).value();
    return node;
  }
  Result<Operand> ParseOperand() {
    Skip();
    if (pos_ == s_.size()) return Fail("expected a value or a field");
    Operand o;
    char c = s_[pos_];
    if (c == '\'' || c == '"') {
      char quote = c;
      ++pos_;
      o.kind = Operand::Kind::kString;
      while (true) {
        if (pos_ == s_.size()) return Fail("unterminated string");
        char d = s_[pos_++];
        if (d == quote) break;
        if (d == '\\' && pos_ < s_.size()) d = s_[pos_++];
        o.text.push_back(d);
      }
      return o;
    }
    if (IsDigit(c) || (c == '-' && pos_ + 1 < s_.size() && IsDigit(s_[pos_ + 1]))) {
      size_t start = pos_++;
      bool dot = false;
      while (pos_ < s_.size() && (IsDigit(s_[pos_]) || (s_[pos_] == '.' && !dot)))
        dot |= s_[pos_++] == '.';
      std::string num(s_.substr(start, pos_ - start));
      if (num.back() == '.') return Fail("malformed number");
      o.kind = Operand::Kind::kNumber;
      o.number = strtod(num.c_str(), nullptr);
      if (!dot && num.size() < 19) {
        o.is_int = true;
        o.ival = strtoll(num.c_str(), nullptr, 10);
      }
      return o;
    }
    if (!IsIdentStart(c)) return Fail("expected a value or a field");
    size_t start = pos_;
    while (pos_ < s_.size() && IsIdentChar(s_[pos_])) ++pos_;
    std::string_view id = s_.substr(start, pos_ - start);
    if (id.size() > 255) return Fail("name too long");
    if (id == "true" || id == "false") {
      o.kind = Operand::Kind::kBool;
      o.boolean = id == "true";
    } else if (id == "null") {
      o.kind = Operand::Kind::kNull;
    } else if (id == "@now") {
      o.kind = Operand::Kind::kNow;
    } else if (id.substr(0, 14) == "@request.auth.") {
      o.kind = Operand::Kind::kAuth;
      o.text = std::string(id.substr(14));
    } else if (id.substr(0, 14) == "@request.body.") {
      o.kind = Operand::Kind::kBody;
      o.text = std::string(id.substr(14));
    } else if (id[0] == '@') {
      pos_ = start;
      return Fail("unknown macro \"" + std::string(id) + "\"");
    } else {
      if (id.front() == '.' || id.back() == '.' || id.find("..") != std::string_view::npos ||
          id.find('@') != std::string_view::npos)
        return Fail("malformed field \"" + std::string(id) + "\"");
      o.kind = Operand::Kind::kPath;
      o.text = std::string(id);
    }
    if ((o.kind == Operand::Kind::kAuth || o.kind == Operand::Kind::kBody) &&
        (o.text.empty() || o.text.find('.') != std::string::npos ||
         o.text.find('@') != std::string::npos))
      return Fail("malformed @request field");
    return o;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int comparisons_ = 0;
};

// The operand as SQL: a column expression, or "?N" with its value bound.
Result<std::string> OperandSql(const Operand& o, const FilterContext& ctx,
                               std::vector<SqlValue>* params, bool* multi) {
  *multi = false;
  switch (o.kind) {
    case Operand::Kind::kString:
      params->push_back(o.text);
      return Placeholder(*params);
    case Operand::Kind::kNumber:
      if (o.is_int)
        params->push_back(o.ival);
      else
        params->push_back(o.number);
      return Placeholder(*params);
    case Operand::Kind::kBool:
      params->push_back(static_cast<int64_t>(o.boolean));
      return Placeholder(*params);
    case Operand::Kind::kNull:
      return std::string("NULL");
    case Operand::Kind::kNow:
      params->push_back(ctx.now);
      return Placeholder(*params);
    case Operand::Kind::kAuth:
      params->push_back(ctx.auth ? ctx.auth(o.text) : SqlValue(nullptr));
      return Placeholder(*params);
    case Operand::Kind::kBody:
      params->push_back(ctx.body ? ctx.body(o.text) : SqlValue(nullptr));
      return Placeholder(*params);
    case Operand::Kind::kPath:
      return ctx.field(o.text, multi, params);
  }
  return Error{"filter: bad operand"};
}

// `like_param`: `r` is one bound value, already made a LIKE pattern.
std::string Compare(const std::string& l, const std::string& op, const std::string& r,
                    bool right_is_null, bool like_param) {
  if (right_is_null) {  // empty and null are alike, as in PocketBase (`l` may be a "?N": used once)
    if (op == "=") return "coalesce(" + l + ", '') = ''";
    if (op == "!=") return "coalesce(" + l + ", '') != ''";
  }
  if (op == "=") return l + " IS " + r;
  if (op == "!=") return l + " IS NOT " + r;
  if (op == "~" || op == "!~") {
    std::string pattern = like_param ? r : "('%' || " + r + " || '%')";
    return l + (op == "~" ? " LIKE " : " NOT LIKE ") + pattern + " ESCAPE '\\'";
  }
  return l + " " + op + " " + r;
}

bool IsEscaped(std::string_view s, size_t i) {
  return i > 0 && s[i - 1] == '\\';
}

}  // namespace

Result<FilterPtr> ParseFilter(std::string_view text) {
  return Parser(text).Parse();
}

std::string Placeholder(const std::vector<SqlValue>& params) {
  return "?" + std::to_string(params.size());
}

std::string LikePattern(std::string_view v) {
  bool own_pattern = false;
  for (size_t i = 0; i < v.size(); ++i) own_pattern |= v[i] == '%' && !IsEscaped(v, i);
  if (own_pattern) return std::string(v);
  // Escapes every %, _ and \ that is not already escaped: "a_c" matches
  // "a_c", not "abc"; "a\_c" stays as written.
  std::string out = "%";
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    bool special = c == '%' || c == '_' || c == '\\';
    bool escapes_next =
        c == '\\' && i + 1 < v.size() && (v[i + 1] == '%' || v[i + 1] == '_' || v[i + 1] == '\\');
    if (escapes_next) {
      out.push_back(c);
      out.push_back(v[++i]);
      continue;
    }
    if (special) out.push_back('\\');
    out.push_back(c);
  }
  return out + "%";
}

Result<std::string> FilterToSql(const FilterNode& node, const FilterContext& ctx,
                                std::vector<SqlValue>* params) {
  if (node.kind != FilterNode::Kind::kCmp) {
    std::string out = "(";
    const char* join = node.kind == FilterNode::Kind::kAnd ? " AND " : " OR ";
    for (size_t i = 0; i < node.children.size(); ++i) {
      auto part = FilterToSql(*node.children[i], ctx, params);
      if (!part.ok()) return part;
      if (i) out += join;
      out += *part;
    }
    return out + ")";
  }
  bool lmulti = false, rmulti = false;
  auto l = OperandSql(node.left, ctx, params, &lmulti);
  if (!l.ok()) return l;
  auto r = OperandSql(node.right, ctx, params, &rmulti);
  if (!r.ok()) return r;
  bool rnull = node.right.kind == Operand::Kind::kNull;
  if (node.right.kind == Operand::Kind::kString && node.right.text.empty() &&
      (node.op == "=" || node.op == "!=")) {
    // "" is like null (PocketBase: `x != ""` is false for a null x, and for
    // a guest's @request.auth.id): compared with coalesce, not bound.
    params->pop_back();
    rnull = true;
  }
  if (rmulti) return Error{"filter: a multi-valued field goes on the left of an operator"};
  bool like_param = false;
  if ((node.op == "~" || node.op == "!~") && !rnull &&
      (node.right.kind == Operand::Kind::kString || node.right.kind == Operand::Kind::kNumber ||
       node.right.kind == Operand::Kind::kAuth || node.right.kind == Operand::Kind::kBody)) {
    // The value is the last one bound: it becomes a pattern (a number or a
    // @request value as its text, as PocketBase binds them).
    SqlValue& v = params->back();
    std::string text;
    switch (v.index()) {
      case 0:
        break;
      case 1:
        text = std::to_string(std::get<int64_t>(v));
        break;
      case 2: {
        char buf[64];
        snprintf(buf, sizeof buf, "%.17g", std::get<double>(v));
        text = buf;
        break;
      }
      default:
        text = std::get<std::string>(v);
        break;
    }
    if (v.index() != 0) {
      v = LikePattern(text);
      like_param = true;
    }
  }
  if (!lmulti) return Compare(*l, node.op, *r, rnull, like_param);
  // A multi-valued field (JSON array): "?op" is true when any element
  // matches; the plain form when every element does (and the array is not
  // empty). "= null" / "!= null" ask whether it is empty.
  if (rnull && (node.op == "=" || node.op == "!=")) {
    std::string empty =
        "(json_array_length(" + *l + ") IS NULL OR json_array_length(" + *l + ") = 0)";
    return node.op == "=" ? empty : "NOT " + empty;
  }
  std::string each = "(SELECT 1 FROM json_each(" + *l + ") AS je WHERE ";
  std::string cmp = Compare("je.value", node.op, *r, rnull, like_param);
  if (node.any) return "EXISTS " + each + cmp + ")";
  return "(json_array_length(" + *l + ") > 0 AND NOT EXISTS " + each + "NOT (" + cmp + ")))";
}

}  // namespace hearth::data

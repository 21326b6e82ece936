#include "http/path.h"

namespace hearth {
namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte "%XY" at `i` stands for, or -1 if it is not a whole escape.
int Escaped(std::string_view p, size_t i) {
  if (i + 2 >= p.size()) return -1;
  int hi = Hex(p[i + 1]), lo = Hex(p[i + 2]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

bool RefusedByte(int b) {
  return b == '/' || b == '\\' || b == 0;
}

// Whether the segment that starts at `i` (just after a '/') is ".", "..",
// or one of them with parameters, spelt with raw dots. Escaped dots are found
// by the '%' scan instead.
bool DotSegmentAt(std::string_view p, size_t i) {
  if (i >= p.size() || p[i] != '.') return false;
  ++i;
  if (i < p.size() && p[i] == '.') ++i;
  return i == p.size() || p[i] == '/' || p[i] == ';';
}

}  // namespace

PathNormal NormalizePath(std::string_view path, std::string* out) {
  // The scan: refusals, and whether anything would change.
  bool change = false;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '/') {
      if (i + 1 < path.size() && (path[i + 1] == '/' || DotSegmentAt(path, i + 1))) change = true;
    } else if (c == '%') {
      int b = Escaped(path, i);
      if (RefusedByte(b)) return PathNormal::kRefused;
      if (b == '.') change = true;
    } else if (c == '\\') {
      return PathNormal::kRefused;
    }
  }
  if (!change) return PathNormal::kUnchanged;

  // The rewrite: one segment at a time onto `out`, which always ends in '/'
  // where a segment begins.
  out->clear();
  out->reserve(path.size());
  out->push_back('/');
  size_t i = 1;
  while (true) {
    size_t start = out->size();
    while (i < path.size() && path[i] != '/') {
      if (path[i] == '%' && Escaped(path, i) == '.') {
        out->push_back('.');
        i += 3;
        continue;
      }
      out->push_back(path[i++]);
    }
    std::string_view seg(out->data() + start, out->size() - start);
    bool more = i < path.size();  // a '/' follows
    if (seg == ".") {
      out->resize(start);
    } else if (seg == "..") {
      if (start == 1) return PathNormal::kRefused;  // above the root
      out->resize(out->rfind('/', start - 2) + 1);
    } else if (seg.substr(0, 2) == ".;" || seg.substr(0, 3) == "..;") {
      return PathNormal::kRefused;
    } else if (!seg.empty() && more) {
      out->push_back('/');
    }
    // An empty segment ("//") adds nothing: `out` already ends in '/'.
    if (!more) break;
    ++i;
  }
  return PathNormal::kRewritten;
}

}  // namespace hearth

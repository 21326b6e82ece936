#include "files/representation.h"

#include "base/clock.h"
#include "base/strings.h"

namespace hearth {
namespace {

enum class RangeKind { kIgnore, kOk, kUnsatisfiable };

// One "bytes=" range (RFC 9110 §14.1.2). Several ranges, or anything malformed,
// is ignored and the whole file is served, which the RFC allows.
RangeKind ParseRange(std::string_view h, uint64_t size, uint64_t* start, uint64_t* len) {
  if (h.size() < 6 || !EqualsIgnoreCase(h.substr(0, 6), "bytes=")) return RangeKind::kIgnore;
  std::string_view spec = TrimOws(h.substr(6));
  if (spec.find(',') != std::string_view::npos) return RangeKind::kIgnore;
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeKind::kIgnore;
  std::string_view a = TrimOws(spec.substr(0, dash)), b = TrimOws(spec.substr(dash + 1));
  uint64_t first, last;
  if (a.empty()) {  // suffix: the last N bytes
    uint64_t n;
    if (!ParseUint(b, &n)) return RangeKind::kIgnore;
    if (n == 0 || size == 0) return RangeKind::kUnsatisfiable;
    if (n > size) n = size;
    *start = size - n;
    *len = n;
    return RangeKind::kOk;
  }
  if (!ParseUint(a, &first)) return RangeKind::kIgnore;
  if (b.empty()) {
    last = size ? size - 1 : 0;
  } else {
    if (!ParseUint(b, &last) || last < first) return RangeKind::kIgnore;
    if (size && last >= size) last = size - 1;
  }
  if (first >= size) return RangeKind::kUnsatisfiable;
  *start = first;
  *len = last - first + 1;
  return RangeKind::kOk;
}

// If-None-Match uses the weak comparison (RFC 9110 §13.1.2).
bool EtagListMatches(std::string_view list, std::string_view etag) {
  if (TrimOws(list) == "*") return true;
  std::string_view strong = etag;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view t = TrimOws(list.substr(0, comma));
    if (t.substr(0, 2) == "W/") t.remove_prefix(2);
    if (t == strong) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

void ServeRepresentation(const Request& req, Response& res, const Representation& rep) {
  std::string_view inm = req.Header("If-None-Match");
  bool not_modified = false;
  if (!inm.empty()) {
    not_modified = EtagListMatches(inm, rep.etag);
  } else if (std::string_view ims = req.Header("If-Modified-Since");
             !ims.empty() && rep.mtime_s >= 0) {
    int64_t t = ParseHttpDate(ims);
    not_modified = t >= 0 && rep.mtime_s <= t;
  }
  if (not_modified) {
    res.status = 304;
    res.SetHeader("ETag", rep.etag);
    if (!rep.last_modified.empty()) res.SetHeader("Last-Modified", rep.last_modified);
    return;
  }

  uint64_t start = 0, len = rep.size;
  std::string_view range = req.Header("Range");
  if (!range.empty() && req.method == Method::kGet) {
    std::string_view if_range = req.Header("If-Range");
    bool apply = true;
    if (!if_range.empty()) {
      if (if_range[0] == '"')
        apply = if_range == rep.etag;
      else if (if_range.substr(0, 2) == "W/")
        apply = false;  // weak never matches here
      else
        apply = !rep.last_modified.empty() && if_range == rep.last_modified;
    }
    if (apply) {
      RangeKind k = ParseRange(range, rep.size, &start, &len);
      if (k == RangeKind::kUnsatisfiable) {
        res.SetError(416);
        std::string cr = "bytes */";
        AppendUint(&cr, rep.size);
        res.SetHeader("Content-Range", cr);
        return;
      }
      if (k == RangeKind::kOk) {
        res.status = 206;
        std::string cr = "bytes ";
        AppendUint(&cr, start);
        cr.push_back('-');
        AppendUint(&cr, start + len - 1);
        cr.push_back('/');
        AppendUint(&cr, rep.size);
        res.SetHeader("Content-Range", cr);
      }
    }
  }
  res.fields.append(rep.fields);
  if (rep.content)
    res.SetShared(rep.content, start, len);
  else if (rep.fd)
    res.SetFile(rep.fd, start, len);
  else
    res.SetStream(rep.open_stream(start, len), len);
}

}  // namespace hearth

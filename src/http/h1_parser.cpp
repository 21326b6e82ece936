#include "http/h1_parser.h"

#include <cstring>

#include "base/strings.h"

namespace hearth {
namespace {

struct CharTable {
  bool token[256] = {};
  bool target[256] = {};
  bool value[256] = {};
  bool host[256] = {};
  constexpr CharTable() {
    const char* extra = "!#$%&'*+-.^_`|~";
    for (int c = '0'; c <= '9'; ++c) token[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) token[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) token[c] = true;
    for (const char* p = extra; *p; ++p) token[static_cast<unsigned char>(*p)] = true;
    for (int c = 0x21; c <= 0x7e; ++c) target[c] = true;
    for (int c = 0x20; c <= 0x7e; ++c) value[c] = true;
    for (int c = 0x80; c <= 0xff; ++c) value[c] = true;  // obs-text
    value[static_cast<unsigned char>('\t')] = true;
    for (int c = '0'; c <= '9'; ++c) host[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) host[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) host[c] = true;
    const char* hostx = "-._~!$&'()*+,;=:%[]";
    for (const char* p = hostx; *p; ++p) host[static_cast<unsigned char>(*p)] = true;
  }
};
constexpr CharTable kChars;

HeadResult Fail(int status, const char* reason) {
  HeadResult r;
  r.state = ParseState::kError;
  r.status = status;
  r.reason = reason;
  return r;
}

// Finds the end of the head: the blank line after the fields. Accepts CRLF or
// a lone LF as line ending (RFC 9112 §2.2); returns npos if not there yet.
size_t FindHeadEnd(std::string_view buf, size_t from) {
  size_t i = from;
  while (true) {
    const void* p = memchr(buf.data() + i, '\n', buf.size() - i);
    if (!p) return std::string_view::npos;
    size_t nl = static_cast<const char*>(p) - buf.data();
    if (nl + 1 < buf.size() && buf[nl + 1] == '\n') return nl + 2;
    if (nl + 2 < buf.size() && buf[nl + 1] == '\r' && buf[nl + 2] == '\n') return nl + 3;
    i = nl + 1;
    if (i >= buf.size()) return std::string_view::npos;
  }
}

// Splits off one line (without its CRLF/LF). False on a bare CR.
bool NextLine(std::string_view* rest, std::string_view* line) {
  size_t nl = rest->find('\n');
  if (nl == std::string_view::npos) return false;
  std::string_view l = rest->substr(0, nl);
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  *line = l;
  rest->remove_prefix(nl + 1);
  return true;
}

bool ValidHost(std::string_view h) {
  for (unsigned char c : h)
    if (!kChars.host[c]) return false;
  return true;
}

void SetHost(Request* req, std::string_view authority) {
  req->authority = authority;
  std::string_view host = authority;
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    host = host.substr(0, close == std::string_view::npos ? host.size() : close + 1);
  } else {
    size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) host = host.substr(0, colon);
  }
  req->host_lower_.assign(host);
  for (auto& c : req->host_lower_) c = AsciiLower(c);
}

}  // namespace

HeadResult ParseResponseHead(std::string_view buf, const H1Limits& limits, ResponseHead* head,
                             size_t scan_from) {
  size_t end = FindHeadEnd(buf, scan_from > 2 ? scan_from - 2 : 0);
  if (end == std::string_view::npos) {
    if (buf.size() > limits.max_header_bytes) return Fail(502, "upstream response head too large");
    return HeadResult{};
  }
  if (end > limits.max_header_bytes) return Fail(502, "upstream response head too large");
  std::string_view rest = buf.substr(0, end);
  std::string_view line;
  if (!NextLine(&rest, &line)) return Fail(502, "malformed upstream status line");
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ' || line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
      line[11] < '0' || line[11] > '9' || (line.size() > 12 && line[12] != ' '))
    return Fail(502, "malformed upstream status line");
  for (size_t i = 13; i < line.size(); ++i)
    if (!kChars.value[static_cast<unsigned char>(line[i])])
      return Fail(502, "malformed upstream status line");
  head->version_minor = line[7] - '0';
  head->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  head->headers.clear();
  bool have_cl = false, chunked = false, have_te = false, close = false, keep_alive = false;
  uint64_t content_length = 0;
  while (NextLine(&rest, &line)) {
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') return Fail(502, "obsolete line folding from upstream");
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return Fail(502, "malformed upstream header line");
    std::string_view name = line.substr(0, colon);
    for (unsigned char c : name)
      if (!kChars.token[c]) return Fail(502, "invalid character in upstream header name");
    std::string_view value = line.substr(colon + 1);
    for (unsigned char c : value)
      if (!kChars.value[c]) return Fail(502, "invalid character in upstream header value");
    value = TrimOws(value);
    if (head->headers.size() >= limits.max_header_count)
      return Fail(502, "too many upstream header fields");
    head->headers.push_back({name, value});
    if (EqualsIgnoreCase(name, "connection")) {
      if (HeaderListHasToken(value, "close")) close = true;
      if (HeaderListHasToken(value, "keep-alive")) keep_alive = true;
    } else if (EqualsIgnoreCase(name, "content-length")) {
      std::string_view v = value;
      while (true) {
        size_t comma = v.find(',');
        uint64_t n;
        if (!ParseUint(TrimOws(v.substr(0, comma)), &n))
          return Fail(502, "invalid upstream Content-Length");
        if (have_cl && n != content_length)
          return Fail(502, "conflicting upstream Content-Length values");
        have_cl = true;
        content_length = n;
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
      }
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      std::string_view v = value;
      while (true) {
        size_t comma = v.find(',');
        std::string_view coding = TrimOws(v.substr(0, comma));
        if (chunked) return Fail(502, "upstream transfer coding after chunked");
        if (EqualsIgnoreCase(coding, "chunked"))
          chunked = true;
        else if (!coding.empty())
          return Fail(502, "unsupported upstream transfer coding");
        have_te = true;
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
      }
    }
  }
  head->keep_alive = head->version_minor >= 1 ? !close : (keep_alive && !close);
  head->persistent = head->keep_alive;
  head->until_close = false;
  head->content_length = 0;
  if (have_te) {
    if (!chunked) {
      // Not chunked last: the body runs to the connection's end (RFC 9112 §6.3).
      head->framing = BodyFraming::kNone;
      head->until_close = true;
      head->keep_alive = false;
    } else {
      head->framing = BodyFraming::kChunked;
      if (have_cl) head->keep_alive = false;  // a smuggling attempt or a broken upstream
    }
  } else if (have_cl) {
    head->framing = BodyFraming::kLength;
    head->content_length = content_length;
  } else {
    head->framing = BodyFraming::kNone;
    head->until_close = true;
    head->keep_alive = false;
  }
  HeadResult r;
  r.state = ParseState::kDone;
  r.consumed = end;
  return r;
}

bool IsValidHostText(std::string_view host) {
  return !host.empty() && ValidHost(host);
}

bool IsTokenChar(unsigned char c) {
  return kChars.token[c];
}

HeadResult ParseRequestHead(std::string_view buf, const H1Limits& limits, Request* req,
                            size_t scan_from) {
  // RFC 9112 §2.2: ignore empty lines before the request line.
  size_t lead = 0;
  while (lead < buf.size() && (buf[lead] == '\r' || buf[lead] == '\n')) {
    if (buf[lead] == '\r' && (lead + 1 >= buf.size() || buf[lead + 1] != '\n')) {
      if (lead + 1 >= buf.size()) return HeadResult{};
      return Fail(400, "bare CR in request");
    }
    ++lead;
    if (lead > 64) return Fail(400, "too many empty lines before the request");
  }
  std::string_view head = buf.substr(lead);
  size_t end = FindHeadEnd(head, scan_from > lead + 2 ? scan_from - lead - 2 : 0);
  {
    // A target over the limit is refused before anything else is looked at, by
    // the same rule whether or not the whole head is here yet, so the answer
    // never depends on how the bytes arrived.
    size_t line_end = head.find('\n');
    if (line_end == std::string_view::npos) line_end = head.size();
    std::string_view line = head.substr(0, line_end);
    size_t sp1 = line.find(' ');
    if (sp1 != std::string_view::npos) {
      size_t sp2 = line.find(' ', sp1 + 1);
      size_t target_len = (sp2 == std::string_view::npos ? line_end : sp2) - sp1 - 1;
      if (target_len > limits.max_target_bytes) return Fail(414, "request target too long");
    }
  }
  if (end == std::string_view::npos) {
    if (head.size() > limits.max_header_bytes) return Fail(431, "request header section too large");
    return HeadResult{};
  }
  if (end > limits.max_header_bytes) return Fail(431, "request header section too large");

  std::string_view rest = head.substr(0, end);
  std::string_view line;
  if (!NextLine(&rest, &line)) return Fail(400, "malformed request line");
  if (line.find('\r') != std::string_view::npos) return Fail(400, "bare CR in request line");

  // request-line = method SP request-target SP HTTP-version
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return Fail(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  for (unsigned char c : method)
    if (!kChars.token[c]) return Fail(400, "invalid character in method");
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Fail(400, "malformed request line");
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (target.empty()) return Fail(400, "empty request target");
  if (target.size() > limits.max_target_bytes) return Fail(414, "request target too long");
  for (unsigned char c : target)
    if (!kChars.target[c]) return Fail(400, "invalid character in request target");
  if (target.find('#') != std::string_view::npos) return Fail(400, "fragment in request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
    return Fail(400, "malformed HTTP version");
  if (version[5] != '1') return Fail(505, "only HTTP/1.x is supported on this connection");

  req->method_text = method;
  req->method = MethodFromText(method);
  req->target = target;
  req->version_minor = version[7] == '0' ? 0 : 1;

  // Fields.
  req->headers.clear();
  int host_count = 0;
  std::string_view host_value;
  bool have_cl = false, have_te = false, chunked = false, connection_close = false,
       connection_keep_alive = false;
  uint64_t content_length = 0;
  bool bad_expect = false;
  while (NextLine(&rest, &line)) {
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') return Fail(400, "obsolete line folding is not allowed");
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return Fail(400, "header line without a colon");
    if (colon == 0) return Fail(400, "empty header name");
    std::string_view name = line.substr(0, colon);
    for (unsigned char c : name)
      if (!kChars.token[c]) return Fail(400, "invalid character in header name");
    std::string_view value = line.substr(colon + 1);
    for (unsigned char c : value)
      if (!kChars.value[c]) return Fail(400, "invalid character in header value");
    value = TrimOws(value);
    if (req->headers.size() >= limits.max_header_count) return Fail(431, "too many header fields");
    req->headers.push_back({name, value});

    switch (name.size()) {
      case 4:
        if (EqualsIgnoreCase(name, "host")) {
          ++host_count;
          host_value = value;
        }
        break;
      case 6:
        if (EqualsIgnoreCase(name, "expect")) {
          if (!EqualsIgnoreCase(value, "100-continue"))
            bad_expect = true;
          else
            req->expect_continue = req->version_minor >= 1;
        }
        break;
      case 10:
        if (EqualsIgnoreCase(name, "connection")) {
          if (HeaderListHasToken(value, "close")) connection_close = true;
          if (HeaderListHasToken(value, "keep-alive")) connection_keep_alive = true;
        }
        break;
      case 14:
        if (EqualsIgnoreCase(name, "content-length")) {
          // A list of identical values is allowed (RFC 9110 §8.6); anything else is not.
          std::string_view v = value;
          while (true) {
            size_t comma = v.find(',');
            uint64_t n;
            if (!ParseUint(TrimOws(v.substr(0, comma)), &n))
              return Fail(400, "invalid Content-Length");
            if (have_cl && n != content_length)
              return Fail(400, "conflicting Content-Length values");
            have_cl = true;
            content_length = n;
            if (comma == std::string_view::npos) break;
            v.remove_prefix(comma + 1);
          }
        }
        break;
      case 17:
        if (EqualsIgnoreCase(name, "transfer-encoding")) {
          std::string_view v = value;
          if (TrimOws(v).empty()) return Fail(400, "empty Transfer-Encoding");
          while (true) {
            size_t comma = v.find(',');
            std::string_view coding = TrimOws(v.substr(0, comma));
            if (chunked) return Fail(400, "chunked must be the last transfer coding, once");
            if (EqualsIgnoreCase(coding, "chunked"))
              chunked = true;
            else if (coding.empty())
              return Fail(400, "empty transfer coding");
            else
              return Fail(501, "unsupported transfer coding");
            have_te = true;
            if (comma == std::string_view::npos) break;
            v.remove_prefix(comma + 1);
          }
        }
        break;
    }
  }

  if (req->version_minor >= 1 && host_count != 1)
    return Fail(400, host_count == 0 ? "missing Host header" : "more than one Host header");
  if (host_count > 1) return Fail(400, "more than one Host header");
  if (!ValidHost(host_value)) return Fail(400, "invalid Host header");
  if (have_te && req->version_minor == 0)
    return Fail(400, "Transfer-Encoding in an HTTP/1.0 request");
  if (have_te && have_cl) return Fail(400, "both Content-Length and Transfer-Encoding");
  if (have_te && !chunked) return Fail(400, "chunked must be the last transfer coding");
  if (req->method == Method::kConnect) return Fail(501, "CONNECT is not supported");

  // request-target forms (RFC 9112 §3.2).
  std::string_view path_and_query;
  if (target[0] == '/') {
    path_and_query = target;
    SetHost(req, host_value);
  } else if (target == "*") {
    if (req->method != Method::kOptions) return Fail(400, "asterisk target is only for OPTIONS");
    path_and_query = target;
    SetHost(req, host_value);
  } else {
    size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) return Fail(400, "malformed request target");
    std::string_view scheme = target.substr(0, scheme_end);
    if (!EqualsIgnoreCase(scheme, "http") && !EqualsIgnoreCase(scheme, "https"))
      return Fail(400, "unsupported URI scheme");
    std::string_view after = target.substr(scheme_end + 3);
    size_t slash = after.find_first_of("/?");
    std::string_view authority = after.substr(0, slash);
    if (authority.empty() || authority.find('@') != std::string_view::npos || !ValidHost(authority))
      return Fail(400, "invalid authority in request target");
    // The target's authority wins over Host (RFC 9112 §3.2.2).
    SetHost(req, authority);
    path_and_query = slash == std::string_view::npos ? std::string_view("/") : after.substr(slash);
    if (path_and_query[0] == '?') {
      // "http://h?q" — path is "/", the query stays.
      req->path = "/";
      req->query = path_and_query.substr(1);
      path_and_query = {};
    }
  }
  if (!path_and_query.empty()) {
    if (path_and_query.find('#') != std::string_view::npos)
      return Fail(400, "fragment in request target");
    size_t q = path_and_query.find('?');
    req->path = path_and_query.substr(0, q);
    req->query = q == std::string_view::npos ? std::string_view() : path_and_query.substr(q + 1);
  }
  // Before anything tests a prefix of it (http/path.h).
  if (!req->NormalizePath())
    return Fail(400, "invalid path (an encoded '/', '\\' or NUL, or '..' above the root)");

  if (bad_expect) return Fail(417, "unsupported expectation");
  if (have_te) {
    req->framing = BodyFraming::kChunked;
  } else if (have_cl && content_length > 0) {
    req->framing = BodyFraming::kLength;
    req->content_length = content_length;
    if (content_length > limits.max_body_bytes) return Fail(413, "request body too large");
  } else {
    req->framing = BodyFraming::kNone;
  }
  if (req->framing == BodyFraming::kNone) req->expect_continue = false;

  if (req->version_minor >= 1)
    req->keep_alive = !connection_close;
  else
    req->keep_alive = connection_keep_alive && !connection_close;

  HeadResult r;
  r.state = ParseState::kDone;
  r.consumed = lead + end;
  return r;
}

ParseState ChunkedDecoder::Feed(std::string_view in, size_t* consumed, std::string* body,
                                uint64_t max_body, int* status, const char** reason) {
  auto fail = [&](int st, const char* why) {
    *status = st;
    *reason = why;
    return ParseState::kError;
  };
  size_t i = 0;
  while (i < in.size() && s_ != S::kDone) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    switch (s_) {
      case S::kSize: {
        int d = -1;
        if (c >= '0' && c <= '9')
          d = c - '0';
        else if (c >= 'a' && c <= 'f')
          d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
          d = c - 'A' + 10;
        if (d >= 0) {
          if (++digits_ > 15) {
            *consumed = i;
            return fail(400, "chunk size too large");
          }
          size_ = (size_ << 4) | static_cast<uint64_t>(d);
          ++i;
          break;
        }
        if (digits_ == 0) {
          *consumed = i;
          return fail(400, "invalid chunk size");
        }
        if (c == '\r')
          s_ = S::kSizeLf;
        else if (c == ';')
          s_ = S::kExt;
        else if (c == ' ' || c == '\t')
          s_ = S::kSizeWs;
        else {
          *consumed = i;
          return fail(400, "invalid chunk size");
        }
        ++i;
        break;
      }
      case S::kSizeWs:
        if (c == ';')
          s_ = S::kExt;
        else if (c != ' ' && c != '\t') {
          *consumed = i;
          return fail(400, "invalid chunk extension");
        }
        ++i;
        break;
      case S::kExt:
        if (c == '\r')
          s_ = S::kSizeLf;
        else if ((c < 0x20 && c != '\t') || c == 0x7f) {
          *consumed = i;
          return fail(400, "invalid chunk extension");
        }
        if (++ext_bytes_ > 4096) {
          *consumed = i;
          return fail(400, "chunk extensions too long");
        }
        ++i;
        break;
      case S::kSizeLf:
        if (c != '\n') {
          *consumed = i;
          return fail(400, "chunk size line must end with CRLF");
        }
        ++i;
        if (size_ == 0) {
          s_ = S::kTrailerStart;
        } else {
          if (total_ + size_ > max_body) {
            *consumed = i;
            return fail(413, "request body too large");
          }
          total_ += size_;
          remaining_ = size_;
          s_ = S::kData;
        }
        size_ = 0;
        digits_ = 0;
        ext_bytes_ = 0;
        break;
      case S::kData: {
        size_t take = in.size() - i;
        if (take > remaining_) take = static_cast<size_t>(remaining_);
        body->append(in.data() + i, take);
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) s_ = S::kDataCr;
        break;
      }
      case S::kDataCr:
        if (c != '\r') {
          *consumed = i;
          return fail(400, "chunk data must end with CRLF");
        }
        s_ = S::kDataLf;
        ++i;
        break;
      case S::kDataLf:
        if (c != '\n') {
          *consumed = i;
          return fail(400, "chunk data must end with CRLF");
        }
        s_ = S::kSize;
        ++i;
        break;
      case S::kTrailerStart:
        if (c == '\r')
          s_ = S::kEndLf;
        else if (c == ' ' || c == '\t') {
          *consumed = i;
          return fail(400, "obsolete line folding in trailer");
        } else
          s_ = S::kTrailerLine;
        if (s_ == S::kTrailerLine && !IsTokenChar(c)) {
          *consumed = i;
          return fail(400, "invalid trailer field");
        }
        ++i;
        break;
      case S::kTrailerLine:
        if (++trailer_bytes_ > 16 * 1024) {
          *consumed = i;
          return fail(431, "trailer section too large");
        }
        if (c == '\r')
          s_ = S::kTrailerLf;
        else if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f) {
          *consumed = i;
          return fail(400, "invalid trailer field");
        }
        ++i;
        break;
      case S::kTrailerLf:
        if (c != '\n') {
          *consumed = i;
          return fail(400, "trailer line must end with CRLF");
        }
        s_ = S::kTrailerStart;
        ++i;
        break;
      case S::kEndLf:
        if (c != '\n') {
          *consumed = i;
          return fail(400, "chunked body must end with CRLF");
        }
        s_ = S::kDone;
        ++i;
        break;
      case S::kDone:
        break;
    }
  }
  *consumed = i;
  return s_ == S::kDone ? ParseState::kDone : ParseState::kIncomplete;
}

}  // namespace hearth

// Table-driven tests of the HTTP/1.1 request head parser and the chunked body
// decoder (RFC 9112). Every rule is exercised from both sides: a request that
// must be accepted and one that must be refused with the documented status.
#include "http/h1_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace hearth {
namespace {

using namespace std::string_literals;

constexpr size_t kAll = std::string::npos;  // "consumed == the whole input"

const char* StateName(ParseState s) {
  switch (s) {
    case ParseState::kIncomplete:
      return "kIncomplete";
    case ParseState::kDone:
      return "kDone";
    case ParseState::kError:
      return "kError";
  }
  return "?";
}

std::string Describe(const HeadResult& r) {
  std::string s = StateName(r.state);
  s += " consumed=" + std::to_string(r.consumed);
  if (r.state == ParseState::kError)
    s += " status=" + std::to_string(r.status) + " (" + r.reason + ")";
  return s;
}

// A well-formed request whose request line is `line` (without CRLF) and whose
// fields are `fields` (each ending in CRLF).
std::string Req(std::string_view line, std::string_view fields = "Host: h\r\n") {
  std::string s(line);
  s += "\r\n";
  s += fields;
  s += "\r\n";
  return s;
}

// ---------------------------------------------------------------------------
// Heads that must be accepted.

struct AcceptCase {
  std::string name;
  std::string input;
  Method method = Method::kGet;
  std::string path = "/";
  std::string query = "";
  std::string host = "h";       // HostName(): lower-cased, without the port
  std::string authority = "h";  // as sent
  int version_minor = 1;
  bool keep_alive = true;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  bool expect_continue = false;
  size_t consumed = kAll;
};

void PrintTo(const AcceptCase& c, std::ostream* os) {
  *os << c.name;
}

std::vector<AcceptCase> AcceptCases() {
  std::vector<AcceptCase> v = {
      // Request line and target.
      {.name = "SimpleGet", .input = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"},
      {.name = "PathAndQuery",
       .input = Req("GET /a/b?x=1&y=2 HTTP/1.1"),
       .path = "/a/b",
       .query = "x=1&y=2"},
      {.name = "EmptyQuery", .input = Req("GET /a? HTTP/1.1"), .path = "/a", .query = ""},
      {.name = "QueryWithQuestionMark",
       .input = Req("GET /a?b?c HTTP/1.1"),
       .path = "/a",
       .query = "b?c"},
      {.name = "HeadMethod",
       .input = Req("HEAD /x HTTP/1.1"),
       .method = Method::kHead,
       .path = "/x"},
      {.name = "DeleteMethod",
       .input = Req("DELETE /x HTTP/1.1"),
       .method = Method::kDelete,
       .path = "/x"},
      {.name = "UnknownTokenMethod", .input = Req("PROPFIND / HTTP/1.1"), .method = Method::kOther},
      {.name = "HigherMinorVersionIsHttp11", .input = Req("GET / HTTP/1.9"), .version_minor = 1},

      // Host.
      {.name = "HostLowerCasedWithoutPort",
       .input = Req("GET / HTTP/1.1", "Host: Example.COM:8080\r\n"),
       .host = "example.com",
       .authority = "Example.COM:8080"},
      {.name = "HostIpv6Literal",
       .input = Req("GET / HTTP/1.1", "Host: [::1]:8080\r\n"),
       .host = "[::1]",
       .authority = "[::1]:8080"},
      {.name = "HostOwsTrimmed", .input = Req("GET / HTTP/1.1", "Host: \t h \t\r\n")},
      {.name = "HostEmptyValue",  // allowed when the target has no authority
       .input = Req("GET / HTTP/1.1", "Host:\r\n"),
       .host = "",
       .authority = ""},
      {.name = "HostNameCaseInsensitive", .input = Req("GET / HTTP/1.1", "hOST: h\r\n")},

      // HTTP/1.0 and persistence.
      {.name = "Http10WithoutHost",
       .input = "GET / HTTP/1.0\r\n\r\n",
       .host = "",
       .authority = "",
       .version_minor = 0,
       .keep_alive = false},
      {.name = "Http10DefaultClose",
       .input = Req("GET / HTTP/1.0"),
       .version_minor = 0,
       .keep_alive = false},
      {.name = "Http10KeepAlive",
       .input = Req("GET / HTTP/1.0", "Host: h\r\nConnection: keep-alive\r\n"),
       .version_minor = 0,
       .keep_alive = true},
      {.name = "Http10KeepAliveInListMixedCase",
       .input = Req("GET / HTTP/1.0", "Host: h\r\nConnection: Upgrade, Keep-Alive\r\n"),
       .version_minor = 0,
       .keep_alive = true},
      {.name = "Http10KeepAliveAndCloseCloses",
       .input = Req("GET / HTTP/1.0", "Host: h\r\nConnection: keep-alive, close\r\n"),
       .version_minor = 0,
       .keep_alive = false},
      {.name = "Http11DefaultKeepAlive", .input = Req("GET / HTTP/1.1"), .keep_alive = true},
      {.name = "Http11ConnectionClose",
       .input = Req("GET / HTTP/1.1", "Host: h\r\nConnection: close\r\n"),
       .keep_alive = false},
      {.name = "Http11ConnectionCloseInList",
       .input = Req("GET / HTTP/1.1", "Host: h\r\nConnection: foo, CLOSE\r\n"),
       .keep_alive = false},
      {.name = "Http11ConnectionKeepAlive",
       .input = Req("GET / HTTP/1.1", "Host: h\r\nConnection: keep-alive\r\n"),
       .keep_alive = true},

      // absolute-form: the target's authority wins over Host (RFC 9112 §3.2.2).
      {.name = "AbsoluteForm",
       .input = Req("GET http://Example.COM:8080/p/q?x=1 HTTP/1.1", "Host: other.org\r\n"),
       .path = "/p/q",
       .query = "x=1",
       .host = "example.com",
       .authority = "Example.COM:8080"},
      {.name = "AbsoluteFormHttpsWithoutPath",
       .input = Req("GET https://example.com HTTP/1.1", "Host: example.com\r\n"),
       .path = "/",
       .host = "example.com",
       .authority = "example.com"},
      {.name = "AbsoluteFormQueryWithoutPath",
       .input = Req("GET http://example.com?a=b HTTP/1.1", "Host: example.com\r\n"),
       .path = "/",
       .query = "a=b",
       .host = "example.com",
       .authority = "example.com"},
      // The path in its normal form (http/path.h), before anything tests a prefix.
      {.name = "PathDotSegmentsAndSlashesNormalised",
       .input = Req("GET /app/x/..//%2e/y/?q=/../ HTTP/1.1"),
       .path = "/app/y/",
       .query = "q=/../"},
      {.name = "PathLeadingSlashesCollapsed",
       .input = Req("GET //evil.example HTTP/1.1"),
       .path = "/evil.example"},
      {.name = "AbsoluteFormPathNormalised",
       .input = Req("GET http://h/app/%2e%2e/x HTTP/1.1"),
       .path = "/x"},
      {.name = "AbsoluteFormUpperCaseScheme",
       .input = Req("GET HTTP://h/x HTTP/1.1"),
       .path = "/x"},
      {.name = "AbsoluteFormIpv6",
       .input = Req("GET http://[::1]:8080/ HTTP/1.1", "Host: x\r\n"),
       .host = "[::1]",
       .authority = "[::1]:8080"},

      // asterisk-form.
      {.name = "OptionsAsterisk",
       .input = Req("OPTIONS * HTTP/1.1"),
       .method = Method::kOptions,
       .path = "*"},

      // Content-Length.
      {.name = "ContentLength",
       .input = Req("POST /u HTTP/1.1", "Host: h\r\nContent-Length: 5\r\n"),
       .method = Method::kPost,
       .path = "/u",
       .framing = BodyFraming::kLength,
       .content_length = 5},
      {.name = "ContentLengthZeroIsNoBody",
       .input = Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 0\r\n"),
       .method = Method::kPost,
       .framing = BodyFraming::kNone,
       .content_length = 0},
      {.name = "ContentLengthIdenticalList",
       .input = Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 5, 5\r\n"),
       .method = Method::kPost,
       .framing = BodyFraming::kLength,
       .content_length = 5},
      {.name = "ContentLengthRepeatedIdenticalHeaders",
       .input = Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 7\r\ncontent-length: 7\r\n"),
       .method = Method::kPost,
       .framing = BodyFraming::kLength,
       .content_length = 7},
      {.name = "ContentLengthLeadingZeros",
       .input = Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 007\r\n"),
       .method = Method::kPost,
       .framing = BodyFraming::kLength,
       .content_length = 7},
      {.name = "ContentLengthAtDefaultMax",
       .input = Req("PUT / HTTP/1.1", "Host: h\r\nContent-Length: 67108864\r\n"),
       .method = Method::kPut,
       .framing = BodyFraming::kLength,
       .content_length = 67108864},

      // Transfer-Encoding.
      {.name = "Chunked",
       .input = Req("POST / HTTP/1.1", "Host: h\r\nTransfer-Encoding: chunked\r\n"),
       .method = Method::kPost,
       .framing = BodyFraming::kChunked},
      {.name = "ChunkedMixedCase",
       .input = Req("POST / HTTP/1.1", "Host: h\r\nTransfer-Encoding: Chunked\r\n"),
       .method = Method::kPost,
       .framing = BodyFraming::kChunked},

      // Expect: 100-continue only matters when there is a body to wait for.
      {.name = "ExpectContinueWithContentLength",
       .input = Req("POST / HTTP/1.1", "Host: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n"),
       .method = Method::kPost,
       .framing = BodyFraming::kLength,
       .content_length = 5,
       .expect_continue = true},
      {.name = "ExpectContinueCaseInsensitive",
       .input = Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 5\r\nexpect: 100-Continue\r\n"),
       .method = Method::kPost,
       .framing = BodyFraming::kLength,
       .content_length = 5,
       .expect_continue = true},
      {.name = "ExpectContinueWithChunked",
       .input = Req("POST / HTTP/1.1",
                    "Host: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"),
       .method = Method::kPost,
       .framing = BodyFraming::kChunked,
       .expect_continue = true},
      {.name = "ExpectContinueWithoutBody",
       .input = Req("GET / HTTP/1.1", "Host: h\r\nExpect: 100-continue\r\n"),
       .expect_continue = false},
      {.name = "ExpectContinueWithZeroLength",
       .input = Req("POST / HTTP/1.1", "Host: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n"),
       .method = Method::kPost,
       .expect_continue = false},
      {.name = "ExpectContinueIgnoredInHttp10",
       .input = Req("POST / HTTP/1.0", "Expect: 100-continue\r\nContent-Length: 5\r\n"),
       .method = Method::kPost,
       .host = "",
       .authority = "",
       .version_minor = 0,
       .keep_alive = false,
       .framing = BodyFraming::kLength,
       .content_length = 5,
       .expect_continue = false},

      // Line endings (RFC 9112 §2.2).
      {.name = "LeadingCrlfLinesIgnored", .input = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"},
      {.name = "LeadingLfLinesIgnored", .input = "\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"},
      {.name = "LfOnlyLineEndings",
       .input = "POST / HTTP/1.1\nHost: h\nContent-Length: 3\n\n",
       .method = Method::kPost,
       .framing = BodyFraming::kLength,
       .content_length = 3},
      {.name = "MixedLineEndings", .input = "GET / HTTP/1.1\r\nHost: h\n\r\n"},

      // Field values.
      {.name = "ObsTextInValue", .input = Req("GET / HTTP/1.1", "Host: h\r\nX: caf\xc3\xa9\r\n")},
      {.name = "EmptyFieldValue", .input = Req("GET / HTTP/1.1", "Host: h\r\nX:\r\n")},
      {.name = "TabInsideValue", .input = Req("GET / HTTP/1.1", "Host: h\r\nX: a\tb\r\n")},
  };

  // Limits, right at the edge.
  {
    AcceptCase c{.name = "TargetAtLimit", .input = ""};
    c.path = "/" + std::string(8192 - 1, 'a');
    c.input = Req("GET " + c.path + " HTTP/1.1");
    v.push_back(c);
  }
  {
    std::string prefix = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    std::string suffix = "\r\n\r\n";
    AcceptCase c{.name = "HeadAtLimit", .input = ""};
    c.input = prefix + std::string(16 * 1024 - prefix.size() - suffix.size(), 'v') + suffix;
    v.push_back(c);
  }
  {
    std::string fields = "Host: h\r\n";
    for (int i = 1; i < 100; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
    v.push_back({.name = "HundredFields", .input = Req("GET / HTTP/1.1", fields)});
  }
  return v;
}

class H1AcceptTest : public ::testing::TestWithParam<AcceptCase> {};

TEST_P(H1AcceptTest, Parses) {
  const AcceptCase& c = GetParam();
  Request req;
  req.Reset();
  HeadResult r = ParseRequestHead(c.input, H1Limits(), &req);
  ASSERT_EQ(r.state, ParseState::kDone) << Describe(r);
  EXPECT_EQ(r.consumed, c.consumed == kAll ? c.input.size() : c.consumed);
  EXPECT_EQ(req.method, c.method);
  EXPECT_EQ(req.path, c.path);
  EXPECT_EQ(req.query, c.query);
  EXPECT_EQ(req.HostName(), c.host);
  EXPECT_EQ(req.authority, c.authority);
  EXPECT_EQ(req.version_minor, c.version_minor);
  EXPECT_EQ(req.keep_alive, c.keep_alive);
  EXPECT_EQ(req.framing, c.framing);
  EXPECT_EQ(req.content_length, c.content_length);
  EXPECT_EQ(req.expect_continue, c.expect_continue);
}

INSTANTIATE_TEST_SUITE_P(Rfc9112, H1AcceptTest, ::testing::ValuesIn(AcceptCases()),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Heads that must be refused, with the status h1_parser.h documents.

struct RejectCase {
  std::string name;
  std::string input;
  int status;
};

void PrintTo(const RejectCase& c, std::ostream* os) {
  *os << c.name;
}

std::vector<RejectCase> RejectCases() {
  std::vector<RejectCase> v = {
      // Host (RFC 9112 §3.2).
      {"MissingHostHttp11", "GET / HTTP/1.1\r\n\r\n", 400},
      {"MissingHostHttp11AbsoluteForm", "GET http://h/ HTTP/1.1\r\n\r\n", 400},
      {"TwoHostHeaders", Req("GET / HTTP/1.1", "Host: a\r\nHost: b\r\n"), 400},
      {"TwoIdenticalHostHeaders", Req("GET / HTTP/1.1", "Host: a\r\nhost: a\r\n"), 400},
      {"TwoHostHeadersHttp10", Req("GET / HTTP/1.0", "Host: a\r\nHost: b\r\n"), 400},
      {"HostWithSpace", Req("GET / HTTP/1.1", "Host: a b\r\n"), 400},
      {"HostWithSlash", Req("GET / HTTP/1.1", "Host: a/b\r\n"), 400},
      {"HostWithUserinfo", Req("GET / HTTP/1.1", "Host: u@h\r\n"), 400},

      // Target forms (RFC 9112 §3.2).
      // Paths http/path.h refuses.
      {"PathEncodedSlash", Req("GET /app/..%2fsecret HTTP/1.1"), 400},
      {"PathEncodedBackslash", Req("GET /app/..%5Csecret HTTP/1.1"), 400},
      {"PathBackslash", Req("GET /app/..\\secret HTTP/1.1"), 400},
      {"PathEncodedNul", Req("GET /a%00 HTTP/1.1"), 400},
      {"PathAboveRoot", Req("GET /a/../../secret HTTP/1.1"), 400},
      {"PathDotDotWithParameters", Req("GET /app/..;/secret HTTP/1.1"), 400},
      {"AbsoluteFormPathAboveRoot", Req("GET http://h/../x HTTP/1.1"), 400},
      {"AsteriskWithGet", Req("GET * HTTP/1.1"), 400},
      {"AsteriskWithPost", Req("POST * HTTP/1.1"), 400},
      {"ConnectAuthorityForm", Req("CONNECT h:443 HTTP/1.1", "Host: h:443\r\n"), 501},
      {"ConnectAbsoluteForm", Req("CONNECT http://h/ HTTP/1.1"), 501},
      // The contract says CONNECT -> 501, whatever the target looks like.
      {"ConnectOriginForm", Req("CONNECT / HTTP/1.1"), 501},
      {"AuthorityFormWithGet", Req("GET h:80 HTTP/1.1"), 400},
      {"RelativeTarget", Req("GET a/b HTTP/1.1"), 400},
      {"UnsupportedScheme", Req("GET ftp://h/ HTTP/1.1"), 400},
      {"UserinfoInAuthority", Req("GET http://u:p@h/ HTTP/1.1"), 400},
      {"EmptyAuthority", Req("GET http:///x HTTP/1.1"), 400},
      {"FragmentOriginForm", Req("GET /a#f HTTP/1.1"), 400},
      {"FragmentAfterQuery", Req("GET /a?b#f HTTP/1.1"), 400},
      {"FragmentAbsoluteForm", Req("GET http://h/a#f HTTP/1.1"), 400},
      {"FragmentAbsoluteFormAfterAuthority", Req("GET http://h#f HTTP/1.1"), 400},
      {"FragmentAbsoluteFormQueryWithoutPath", Req("GET http://h?q#f HTTP/1.1"), 400},
      {"NonAsciiTarget", Req("GET /caf\xc3\xa9 HTTP/1.1"), 400},

      // Request line (RFC 9112 §3).
      {"DoubleSpace", Req("GET  / HTTP/1.1"), 400},
      {"LeadingSpace", Req(" GET / HTTP/1.1"), 400},
      {"TabSeparated", Req("GET\t/\tHTTP/1.1"), 400},
      {"InvalidMethodChar", Req("G(T / HTTP/1.1"), 400},
      {"MissingVersion", Req("GET /"), 400},
      {"BareCrInRequestLine", "GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", 400},
      {"BareCrBeforeRequestLine", "\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"TooManyLeadingEmptyLines", std::string(80, '\n') + Req("GET / HTTP/1.1"), 400},

      // Version (RFC 9112 §2.3).
      {"Http20", Req("GET / HTTP/2.0"), 505},
      {"Http2Preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
      {"Http30", Req("GET / HTTP/3.0"), 505},
      {"Http09", Req("GET / HTTP/0.9"), 505},
      {"LowerCaseHttpName", Req("GET / http/1.1"), 400},
      {"VersionWithoutMinor", Req("GET / HTTP/1"), 400},
      {"VersionTwoDigitMinor", Req("GET / HTTP/1.10"), 400},
      {"VersionTrailingSpace", Req("GET / HTTP/1.1 "), 400},
      {"VersionLetterMinor", Req("GET / HTTP/1.x"), 400},
      {"VersionWithoutDot", Req("GET / HTTP/11"), 400},
      {"VersionWrongName", Req("GET / HTTPS/1.1"), 400},

      // Field lines (RFC 9112 §5).
      {"ObsFold", Req("GET / HTTP/1.1", "Host: h\r\nX: a\r\n b\r\n"), 400},
      {"ObsFoldTab", Req("GET / HTTP/1.1", "Host: h\r\nX: a\r\n\tb\r\n"), 400},
      {"WhitespaceBeforeFirstField", Req("GET / HTTP/1.1", " Host: h\r\n"), 400},
      {"SpaceBeforeColon", Req("GET / HTTP/1.1", "Host : h\r\n"), 400},
      {"TabBeforeColon", Req("GET / HTTP/1.1", "Host: h\r\nX\t: v\r\n"), 400},
      {"NoColon", Req("GET / HTTP/1.1", "Host: h\r\nX v\r\n"), 400},
      {"EmptyName", Req("GET / HTTP/1.1", "Host: h\r\n: v\r\n"), 400},
      {"SpaceInName", Req("GET / HTTP/1.1", "Host: h\r\nX Y: v\r\n"), 400},
      {"NonTokenName", Req("GET / HTTP/1.1", "Host: h\r\nX@Y: v\r\n"), 400},
      {"NulInValue", Req("GET / HTTP/1.1", "Host: h\r\nX: a\0b\r\n"s), 400},
      {"NulInName", Req("GET / HTTP/1.1", "Host: h\r\nX\0Y: v\r\n"s), 400},
      {"BareCrInValue", Req("GET / HTTP/1.1", "Host: h\r\nX: a\rb\r\n"), 400},
      {"BareCrAtEndOfValue", Req("GET / HTTP/1.1", "Host: h\r\nX: a\r\r\n"), 400},
      {"BareCrInName", Req("GET / HTTP/1.1", "Host: h\r\nX\rY: v\r\n"), 400},
      {"DelInValue",
       Req("GET / HTTP/1.1",
           "Host: h\r\nX: a\x7f"
           "b\r\n"),
       400},
      {"DelInName", Req("GET / HTTP/1.1", "Host: h\r\nX\x7fY: v\r\n"), 400},
      {"CtlInValue",
       Req("GET / HTTP/1.1",
           "Host: h\r\nX: a\x01"
           "b\r\n"),
       400},
      {"EscInName",
       Req("GET / HTTP/1.1",
           "Host: h\r\nX\x1b"
           "Y: v\r\n"),
       400},

      // Message framing (RFC 9112 §6).
      {"ContentLengthAndChunked",
       Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
       400},
      {"ChunkedAndContentLength",
       Req("POST / HTTP/1.1", "Host: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
       400},
      {"ZeroContentLengthAndChunked",
       Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n"),
       400},
      {"ConflictingContentLengthList",
       Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 5, 6\r\n"), 400},
      {"ConflictingContentLengthHeaders",
       Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n"), 400},
      {"ContentLengthEmpty", Req("POST / HTTP/1.1", "Host: h\r\nContent-Length:\r\n"), 400},
      {"ContentLengthNonDigit", Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: abc\r\n"), 400},
      {"ContentLengthTrailingGarbage", Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 5a\r\n"),
       400},
      {"ContentLengthPlusSign", Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: +5\r\n"), 400},
      {"ContentLengthNegative", Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: -1\r\n"), 400},
      {"ContentLengthHex", Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 0x10\r\n"), 400},
      {"ContentLengthInnerSpace", Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 5 5\r\n"),
       400},
      {"ContentLengthTrailingComma", Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 5,\r\n"),
       400},
      {"ContentLengthOverInt64",
       Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 9223372036854775808\r\n"), 400},
      {"ContentLengthOverUint64",
       Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 18446744073709551616\r\n"), 400},
      {"ContentLengthTwentyNines",
       Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 99999999999999999999\r\n"), 400},
      {"ContentLengthOverMaxBody",
       Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 67108865\r\n"), 413},
      {"TransferEncodingGzip", Req("POST / HTTP/1.1", "Host: h\r\nTransfer-Encoding: gzip\r\n"),
       501},
      {"TransferEncodingIdentity",
       Req("POST / HTTP/1.1", "Host: h\r\nTransfer-Encoding: identity\r\n"), 501},
      {"TransferEncodingGzipThenChunked",  // an unknown coding: 501 (RFC 9112 §6.1)
       Req("POST / HTTP/1.1", "Host: h\r\nTransfer-Encoding: gzip, chunked\r\n"), 501},
      {"TransferEncodingChunkedThenGzip",  // chunked not last: 400
       Req("POST / HTTP/1.1", "Host: h\r\nTransfer-Encoding: chunked, gzip\r\n"), 400},
      {"TransferEncodingChunkedTwice",
       Req("POST / HTTP/1.1", "Host: h\r\nTransfer-Encoding: chunked, chunked\r\n"), 400},
      {"TransferEncodingTwoChunkedHeaders",
       Req("POST / HTTP/1.1",
           "Host: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
       400},
      {"TransferEncodingEmpty", Req("POST / HTTP/1.1", "Host: h\r\nTransfer-Encoding: \r\n"), 400},
      {"TransferEncodingTrailingComma",
       Req("POST / HTTP/1.1", "Host: h\r\nTransfer-Encoding: chunked,\r\n"), 400},
      {"TransferEncodingInHttp10", Req("POST / HTTP/1.0", "Transfer-Encoding: chunked\r\n"), 400},
      {"TransferEncodingInHttp10WithContentLength",
       Req("POST / HTTP/1.0", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400},

      // Expect (RFC 9110 §10.1.1).
      {"ExpectOther", Req("GET / HTTP/1.1", "Host: h\r\nExpect: foo\r\n"), 417},
      {"ExpectOtherWithBody",
       Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 5\r\nExpect: 200-ok\r\n"), 417},
  };

  // Limits.
  v.push_back({"TargetOverLimit", Req("GET /" + std::string(8192, 'a') + " HTTP/1.1"), 414});
  v.push_back({"TargetFarOverLimit", Req("GET /" + std::string(20000, 'a') + " HTTP/1.1"), 414});
  v.push_back({"TargetOverLimitIncomplete", "GET /" + std::string(20000, 'a'), 414});
  {
    std::string prefix = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    std::string suffix = "\r\n\r\n";
    v.push_back({"HeadOneOverLimit",
                 prefix + std::string(16 * 1024 + 1 - prefix.size() - suffix.size(), 'v') + suffix,
                 431});
  }
  v.push_back({"HeadersFarOverLimit",
               Req("GET / HTTP/1.1", "Host: h\r\nX: " + std::string(17000, 'v') + "\r\n"), 431});
  v.push_back({"HeadersOverLimitIncomplete",
               "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(17000, 'v'), 431});
  {
    std::string fields = "Host: h\r\n";
    for (int i = 1; i <= 100; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
    v.push_back({"TooManyFields", Req("GET / HTTP/1.1", fields), 431});
  }
  return v;
}

class H1RejectTest : public ::testing::TestWithParam<RejectCase> {};

TEST_P(H1RejectTest, Refuses) {
  const RejectCase& c = GetParam();
  Request req;
  req.Reset();
  HeadResult r = ParseRequestHead(c.input, H1Limits(), &req);
  ASSERT_EQ(r.state, ParseState::kError) << Describe(r);
  EXPECT_EQ(r.status, c.status) << r.reason;
  EXPECT_NE(std::string_view(r.reason), "");
}

INSTANTIATE_TEST_SUITE_P(Rfc9112, H1RejectTest, ::testing::ValuesIn(RejectCases()),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Other head behaviour.

TEST(H1Parser, HeadersAreKeptTrimmedAndFoundCaseInsensitively) {
  std::string in = Req("GET / HTTP/1.1", "Host: h\r\nContent-Type:  text/plain \t\r\nX-Empty:\r\n");
  Request req;
  req.Reset();
  HeadResult r = ParseRequestHead(in, H1Limits(), &req);
  ASSERT_EQ(r.state, ParseState::kDone) << Describe(r);
  ASSERT_EQ(req.headers.size(), 3u);
  EXPECT_EQ(req.headers[1].name, "Content-Type");
  EXPECT_EQ(req.Header("content-type"), "text/plain");
  EXPECT_TRUE(req.HasHeader("x-empty"));
  EXPECT_EQ(req.Header("x-empty"), "");
  EXPECT_FALSE(req.HasHeader("missing"));
  EXPECT_EQ(req.method_text, "GET");
  EXPECT_EQ(req.target, "/");
  // Views point into the input buffer.
  EXPECT_GE(req.headers[1].value.data(), in.data());
  EXPECT_LE(req.headers[1].value.data() + req.headers[1].value.size(), in.data() + in.size());
}

TEST(H1Parser, ContentLengthOverCustomMaxIs413) {
  H1Limits lim;
  lim.max_body_bytes = 10;
  for (auto [cl, state, status] : std::vector<std::tuple<std::string, ParseState, int>>{
           {"10", ParseState::kDone, 0}, {"11", ParseState::kError, 413}}) {
    SCOPED_TRACE(cl);
    Request req;
    req.Reset();
    std::string in = Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: " + cl + "\r\n");
    HeadResult r = ParseRequestHead(in, lim, &req);
    EXPECT_EQ(r.state, state) << Describe(r);
    if (state == ParseState::kError) {
      EXPECT_EQ(r.status, status);
    }
  }
}

TEST(H1Parser, CustomTargetAndHeaderLimits) {
  H1Limits lim;
  lim.max_target_bytes = 16;
  lim.max_header_bytes = 128;
  lim.max_header_count = 3;
  struct Case {
    std::string input;
    ParseState state;
    int status;
  };
  std::vector<Case> cases = {
      {Req("GET /" + std::string(15, 'a') + " HTTP/1.1"), ParseState::kDone, 0},
      {Req("GET /" + std::string(16, 'a') + " HTTP/1.1"), ParseState::kError, 414},
      {Req("GET / HTTP/1.1", "Host: h\r\nA: 1\r\nB: 2\r\n"), ParseState::kDone, 0},
      {Req("GET / HTTP/1.1", "Host: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n"), ParseState::kError, 431},
      {Req("GET / HTTP/1.1", "Host: h\r\nA: " + std::string(120, 'x') + "\r\n"), ParseState::kError,
       431},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input.substr(0, 40));
    Request req;
    req.Reset();
    HeadResult r = ParseRequestHead(c.input, lim, &req);
    EXPECT_EQ(r.state, c.state) << Describe(r);
    if (c.state == ParseState::kError) {
      EXPECT_EQ(r.status, c.status);
    }
  }
}

TEST(H1Parser, EmptyAndPartialInputIsIncomplete) {
  for (std::string in : {""s, "\r"s, "\r\n"s, "\r\n\r\n"s, "\n"s, "GET"s, "GET / HTTP/1.1\r\n"s,
                         "GET / HTTP/1.1\r\nHost: h\r\n"s, "GET / HTTP/1.1\r\nHost: h\r\n\r"s}) {
    SCOPED_TRACE(::testing::PrintToString(in));
    Request req;
    req.Reset();
    HeadResult r = ParseRequestHead(in, H1Limits(), &req);
    EXPECT_EQ(r.state, ParseState::kIncomplete) << Describe(r);
  }
}

// Feeds every prefix of `in` as a connection would: each call passes the
// previous buffer size as scan_from (or 0 when `use_scan_from` is false).
// Returns the first result that is not kIncomplete, and its prefix length.
HeadResult FeedByteByByte(std::string_view in, const H1Limits& lim, bool use_scan_from,
                          size_t* used, Request* req) {
  HeadResult r;
  size_t prev = 0;
  for (size_t n = 1; n <= in.size(); ++n) {
    req->Reset();
    r = ParseRequestHead(in.substr(0, n), lim, req, use_scan_from ? prev : 0);
    prev = n;
    *used = n;
    if (r.state != ParseState::kIncomplete) break;
  }
  return r;
}

TEST(H1Parser, ByteByByteIsIncompleteUntilTheLastByte) {
  const std::vector<std::string> inputs = {
      Req("GET /a?b HTTP/1.1"),
      "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
      "POST / HTTP/1.1\nHost: h\nContent-Length: 3\n\n",
      "GET / HTTP/1.1\r\nHost: h\n\r\n",
      Req("POST / HTTP/1.1", "Host: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"),
      Req("GET http://h:1/x HTTP/1.1", "Host: h\r\nX: \xff\r\n"),
  };
  for (const auto& in : inputs) {
    for (bool use_scan_from : {false, true}) {
      SCOPED_TRACE(::testing::PrintToString(in) + (use_scan_from ? " scan_from" : ""));
      for (size_t n = 1; n < in.size(); ++n) {
        Request req;
        req.Reset();
        HeadResult r = ParseRequestHead(std::string_view(in).substr(0, n), H1Limits(), &req,
                                        use_scan_from ? n - 1 : 0);
        ASSERT_EQ(r.state, ParseState::kIncomplete) << "prefix " << n << ": " << Describe(r);
      }
      Request req;
      req.Reset();
      HeadResult r = ParseRequestHead(in, H1Limits(), &req, use_scan_from ? in.size() - 1 : 0);
      ASSERT_EQ(r.state, ParseState::kDone) << Describe(r);
      EXPECT_EQ(r.consumed, in.size());
    }
  }
}

// Whatever way the bytes arrive, the outcome must be the same: for every split
// point k, parsing the first k bytes and then (if kIncomplete) the whole buffer
// with scan_from = k must agree with one parse of the whole buffer.
void ExpectSplitsAgree(const std::string& name, std::string_view in) {
  SCOPED_TRACE(name);
  H1Limits lim;
  Request whole_req;
  whole_req.Reset();
  HeadResult whole = ParseRequestHead(in, lim, &whole_req);

  std::vector<size_t> splits;
  if (in.size() <= 600) {
    for (size_t k = 1; k < in.size(); ++k) splits.push_back(k);
  } else {
    for (size_t k = 1; k < in.size(); k += in.size() / 50 + 1) splits.push_back(k);
    for (size_t k = in.size() > 40 ? in.size() - 40 : 1; k < in.size(); ++k) splits.push_back(k);
    for (size_t k :
         {size_t{8192}, size_t{8224}, size_t{8225}, size_t{8240}, size_t{16384}, size_t{16385}})
      if (k < in.size()) splits.push_back(k);
  }
  for (size_t k : splits) {
    Request req;
    req.Reset();
    HeadResult first = ParseRequestHead(in.substr(0, k), lim, &req);
    if (first.state == ParseState::kDone) {
      EXPECT_EQ(whole.state, ParseState::kDone) << "split " << k << ": " << Describe(whole);
      EXPECT_EQ(first.consumed, whole.consumed) << "split " << k;
      continue;
    }
    if (first.state == ParseState::kError) {
      EXPECT_EQ(whole.state, ParseState::kError)
          << "split " << k << ": prefix gave " << Describe(first) << ", whole gave "
          << Describe(whole);
      EXPECT_EQ(first.status, whole.status) << "split " << k;
      continue;
    }
    req.Reset();
    HeadResult second = ParseRequestHead(in, lim, &req, k);
    EXPECT_EQ(second.state, whole.state)
        << "split " << k << ": " << Describe(second) << " vs " << Describe(whole);
    EXPECT_EQ(second.consumed, whole.consumed) << "split " << k;
    EXPECT_EQ(second.status, whole.status) << "split " << k;
  }
}

TEST(H1Parser, EverySplitOfAcceptedInputsAgreesWithWholeParse) {
  for (const auto& c : AcceptCases()) ExpectSplitsAgree(c.name, c.input);
}

TEST(H1Parser, EverySplitOfRefusedInputsAgreesWithWholeParse) {
  for (const auto& c : RejectCases()) ExpectSplitsAgree(c.name, c.input);
}

// A request line longer than max_target_bytes + 32 whose *target* is within
// the limit (the length is in the method). Parsed whole it is judged on its
// target; it must not get a different answer when it arrives in pieces.
TEST(H1Parser, LongRequestLineSameResultWholeOrByteByByte) {
  const std::vector<std::string> inputs = {
      Req(std::string(8300, 'A') + " / HTTP/1.1"),
      Req(std::string(40, 'A') + " /" + std::string(8189, 'a') + " HTTP/1.1"),
  };
  for (const auto& in : inputs) {
    SCOPED_TRACE(in.size());
    Request req;
    req.Reset();
    HeadResult whole = ParseRequestHead(in, H1Limits(), &req);
    for (bool use_scan_from : {false, true}) {
      size_t used = 0;
      HeadResult piecewise = FeedByteByByte(in, H1Limits(), use_scan_from, &used, &req);
      EXPECT_EQ(piecewise.state, whole.state)
          << "byte by byte: " << Describe(piecewise) << " after " << used
          << " bytes; whole: " << Describe(whole);
      EXPECT_EQ(piecewise.consumed, whole.consumed);
    }
  }
}

TEST(H1Parser, PipelinedRequestsStopAtTheFirstEnd) {
  const std::string first = Req("GET /one HTTP/1.1");
  const std::string second = Req("POST /two HTTP/1.1", "Host: h\r\nContent-Length: 3\r\n");
  const std::string buf = first + second + "abc";
  Request req;
  req.Reset();
  HeadResult r = ParseRequestHead(buf, H1Limits(), &req);
  ASSERT_EQ(r.state, ParseState::kDone) << Describe(r);
  EXPECT_EQ(r.consumed, first.size());
  EXPECT_EQ(req.path, "/one");

  std::string_view rest = std::string_view(buf).substr(r.consumed);
  req.Reset();
  r = ParseRequestHead(rest, H1Limits(), &req);
  ASSERT_EQ(r.state, ParseState::kDone) << Describe(r);
  EXPECT_EQ(r.consumed, second.size());
  EXPECT_EQ(req.path, "/two");
  EXPECT_EQ(req.framing, BodyFraming::kLength);
  EXPECT_EQ(rest.substr(r.consumed), "abc");
}

TEST(H1Parser, BodyBytesAfterTheHeadAreNotConsumed) {
  const std::string head = Req("POST / HTTP/1.1", "Host: h\r\nContent-Length: 5\r\n");
  for (std::string tail : {"hello"s, "\r\n\r\n"s, "\n\n"s, "GET / HTTP/1.1\r\n\r\n"s}) {
    SCOPED_TRACE(::testing::PrintToString(tail));
    std::string buf = head + tail;
    Request req;
    req.Reset();
    HeadResult r = ParseRequestHead(buf, H1Limits(), &req);
    ASSERT_EQ(r.state, ParseState::kDone) << Describe(r);
    EXPECT_EQ(r.consumed, head.size());
  }
}

// ---------------------------------------------------------------------------
// ChunkedDecoder (RFC 9112 §7.1).

struct ChunkCase {
  std::string name;
  std::string input;
  ParseState state;
  std::string body = "";
  int status = 0;
  size_t consumed = kAll;  // checked for kDone and kIncomplete
  uint64_t max_body = 1 << 20;
};

void PrintTo(const ChunkCase& c, std::ostream* os) {
  *os << c.name;
}

std::vector<ChunkCase> ChunkCases() {
  using S = ParseState;
  std::vector<ChunkCase> v = {
      {.name = "Simple", .input = "5\r\nhello\r\n0\r\n\r\n", .state = S::kDone, .body = "hello"},
      {.name = "Empty", .input = "0\r\n\r\n", .state = S::kDone},
      {.name = "SeveralChunks",
       .input = "5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n",
       .state = S::kDone,
       .body = "hello world"},
      {.name = "HexSizesBothCases",
       .input = "a\r\n0123456789\r\nB\r\nabcdefghijk\r\n0\r\n\r\n",
       .state = S::kDone,
       .body = "0123456789abcdefghijk"},
      {.name = "LeadingZeros",
       .input = "0005\r\nhello\r\n000\r\n\r\n",
       .state = S::kDone,
       .body = "hello"},
      {.name = "FifteenDigits",
       .input = "000000000000005\r\nhello\r\n0\r\n\r\n",
       .state = S::kDone,
       .body = "hello"},
      {.name = "BinaryData",
       .input = "4\r\n\r\n\0\n\r\n0\r\n\r\n"s,
       .state = S::kDone,
       .body = "\r\n\0\n"s},
      {.name = "ChunkExtensions",
       .input = "5;name=value\r\nhello\r\n6;a;b=\"x y\"\r\n world\r\n0;last\r\n\r\n",
       .state = S::kDone,
       .body = "hello world"},
      {.name = "ChunkExtensionAfterWhitespace",
       .input = "5 \t;a=b\r\nhello\r\n0\r\n\r\n",
       .state = S::kDone,
       .body = "hello"},
      {.name = "Trailers",
       .input = "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nY: z\r\n\r\n",
       .state = S::kDone,
       .body = "hello"},
      {.name = "StopsAtTheEnd",
       .input = "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
       .state = S::kDone,
       .body = "hello",
       .consumed = 15},
      {.name = "StopsAtTheEndAfterTrailers",
       .input = "0\r\nT: v\r\n\r\n\r\n",
       .state = S::kDone,
       .consumed = 11},
      {.name = "IncompleteInData", .input = "5\r\nhel", .state = S::kIncomplete, .body = "hel"},
      {.name = "IncompleteBeforeFinalCrlf",
       .input = "5\r\nhello\r\n0\r\n",
       .state = S::kIncomplete,
       .body = "hello"},
      {.name = "IncompleteInTrailer", .input = "0\r\nX: y\r\n", .state = S::kIncomplete},
      {.name = "BodyAtMax",
       .input = "6\r\nhello \r\n4\r\nworl\r\n0\r\n\r\n",
       .state = S::kDone,
       .body = "hello worl",
       .max_body = 10},

      {.name = "BadHex", .input = "g\r\nhello\r\n0\r\n\r\n", .state = S::kError, .status = 400},
      {.name = "HexPrefix",
       .input = "0x5\r\nhello\r\n0\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "NegativeSize",
       .input = "-5\r\nhello\r\n0\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "EmptySize", .input = "\r\nhello\r\n0\r\n\r\n", .state = S::kError, .status = 400},
      {.name = "ExtensionWithoutSize", .input = ";a\r\n", .state = S::kError, .status = 400},
      {.name = "WhitespaceWithoutExtension",
       .input = "5 \r\nhello\r\n0\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "ControlInExtension",
       .input = "5;a\x01"
                "b\r\nhello\r\n0\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "BareCrInExtension",
       .input = "5;a\rb\r\nhello\r\n0\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "SixteenDigits",
       .input = "0000000000000005\r\nhello\r\n0\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "SizeOverflow", .input = "10000000000000000\r\n", .state = S::kError, .status = 400},
      {.name = "MissingCrlfAfterData",
       .input = "5\r\nhelloX\r\n0\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "DataLongerThanSize",
       .input = "5\r\nhello world\r\n0\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "CrWithoutLfAfterData",
       .input = "5\r\nhello\rX0\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "LfOnlyEverywhere", .input = "5\nhello\n0\n\n", .state = S::kError, .status = 400},
      {.name = "LfOnlyAfterData",
       .input = "5\r\nhello\n0\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "LfOnlyAfterLastChunk",
       .input = "5\r\nhello\r\n0\r\n\n",
       .state = S::kError,
       .status = 400},
      {.name = "LfOnlyAfterTrailer", .input = "0\r\nX: y\n\r\n", .state = S::kError, .status = 400},
      {.name = "CrWithoutLfAtEnd", .input = "0\r\n\rX", .state = S::kError, .status = 400},
      {.name = "ObsFoldInTrailer",
       .input = "0\r\nX: a\r\n b\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "InvalidTrailerName",
       .input = "0\r\n(X: a\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "ControlInTrailer",
       .input = "0\r\nX: a\x01"
                "b\r\n\r\n",
       .state = S::kError,
       .status = 400},
      {.name = "TrailerTooLarge",
       .input = "0\r\nX: " + std::string(17000, 'a') + "\r\n\r\n",
       .state = S::kError,
       .status = 431},
      {.name = "BodyOverMaxInOneChunk",
       .input = "b\r\nhello world\r\n0\r\n\r\n",
       .state = S::kError,
       .status = 413,
       .max_body = 10},
      {.name = "BodyOverMaxAcrossChunks",
       .input = "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
       .state = S::kError,
       .status = 413,
       .max_body = 10},
      {.name = "HugeChunkOverDefaultMax",
       .input = "fffffffffffffff\r\n",
       .state = S::kError,
       .status = 413},
  };
  return v;
}

struct ChunkOutcome {
  ParseState state = ParseState::kIncomplete;
  size_t consumed = 0;
  std::string body;
  int status = 0;
};

// Feeds `in` in pieces of `step` bytes (0: all at once).
ChunkOutcome Decode(std::string_view in, uint64_t max_body, size_t step = 0) {
  ChunkedDecoder d;
  ChunkOutcome out;
  const char* reason = "";
  if (step == 0) step = in.size() + 1;
  size_t pos = 0;
  do {
    std::string_view piece = in.substr(pos, step);
    size_t used = 0;
    out.state = d.Feed(piece, &used, &out.body, max_body, &out.status, &reason);
    EXPECT_LE(used, piece.size());
    out.consumed += used;
    pos += piece.size();
    if (out.state != ParseState::kIncomplete) break;
    EXPECT_EQ(used, piece.size()) << "kIncomplete must consume everything it was given";
  } while (pos < in.size());
  if (out.state == ParseState::kError) {
    EXPECT_NE(std::string_view(reason), "");
  }
  return out;
}

class ChunkedDecoderTest : public ::testing::TestWithParam<ChunkCase> {};

TEST_P(ChunkedDecoderTest, Decodes) {
  const ChunkCase& c = GetParam();
  ChunkOutcome out = Decode(c.input, c.max_body);
  ASSERT_EQ(out.state, c.state) << StateName(out.state) << " status=" << out.status;
  if (c.state == ParseState::kError) {
    EXPECT_EQ(out.status, c.status);
  } else {
    EXPECT_EQ(out.body, c.body);
    EXPECT_EQ(out.consumed, c.consumed == kAll ? c.input.size() : c.consumed);
  }
}

TEST_P(ChunkedDecoderTest, OneByteAtATimeGivesTheSameResult) {
  const ChunkCase& c = GetParam();
  ChunkOutcome whole = Decode(c.input, c.max_body);
  ChunkOutcome bytewise = Decode(c.input, c.max_body, 1);
  EXPECT_EQ(bytewise.state, whole.state);
  EXPECT_EQ(bytewise.status, whole.status);
  EXPECT_EQ(bytewise.consumed, whole.consumed);
  if (whole.state != ParseState::kError) {
    EXPECT_EQ(bytewise.body, whole.body);
  }
}

TEST_P(ChunkedDecoderTest, EveryTwoWaySplitGivesTheSameResult) {
  const ChunkCase& c = GetParam();
  ChunkOutcome whole = Decode(c.input, c.max_body);
  const size_t step = c.input.size() > 200 ? c.input.size() / 100 : 1;  // sample big inputs
  for (size_t k = 1; k < c.input.size(); k += step) {
    ChunkedDecoder d;
    ChunkOutcome out;
    const char* reason = "";
    size_t used = 0;
    out.state = d.Feed(std::string_view(c.input).substr(0, k), &used, &out.body, c.max_body,
                       &out.status, &reason);
    out.consumed = used;
    if (out.state == ParseState::kIncomplete) {
      out.state = d.Feed(std::string_view(c.input).substr(k), &used, &out.body, c.max_body,
                         &out.status, &reason);
      out.consumed += used;
    }
    EXPECT_EQ(out.state, whole.state) << "split " << k;
    EXPECT_EQ(out.status, whole.status) << "split " << k;
    EXPECT_EQ(out.consumed, whole.consumed) << "split " << k;
    if (whole.state != ParseState::kError) {
      EXPECT_EQ(out.body, whole.body) << "split " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc9112, ChunkedDecoderTest, ::testing::ValuesIn(ChunkCases()),
                         [](const auto& info) { return info.param.name; });

TEST(ChunkedDecoder, FeedAfterDoneConsumesNothing) {
  ChunkedDecoder d;
  std::string body;
  int status = 0;
  const char* reason = "";
  size_t used = 0;
  ASSERT_EQ(d.Feed("3\r\nabc\r\n0\r\n\r\n", &used, &body, 100, &status, &reason),
            ParseState::kDone);
  EXPECT_EQ(used, 13u);
  EXPECT_EQ(d.Feed("more", &used, &body, 100, &status, &reason), ParseState::kDone);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(body, "abc");
}

TEST(ChunkedDecoder, ResetStartsANewBody) {
  ChunkedDecoder d;
  std::string body;
  int status = 0;
  const char* reason = "";
  size_t used = 0;
  ASSERT_EQ(d.Feed("3\r\nab", &used, &body, 100, &status, &reason), ParseState::kIncomplete);
  d.Reset();
  body.clear();
  ASSERT_EQ(d.Feed("2\r\nxy\r\n0\r\n\r\n", &used, &body, 100, &status, &reason), ParseState::kDone);
  EXPECT_EQ(body, "xy");
}

TEST(ChunkedDecoder, HeadThenChunkedBodyFromOneBuffer) {
  const std::string head = Req("POST /up HTTP/1.1", "Host: h\r\nTransfer-Encoding: chunked\r\n");
  const std::string buf = head + "4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n" + Req("GET /next HTTP/1.1");
  Request req;
  req.Reset();
  HeadResult r = ParseRequestHead(buf, H1Limits(), &req);
  ASSERT_EQ(r.state, ParseState::kDone) << Describe(r);
  ASSERT_EQ(req.framing, BodyFraming::kChunked);
  ChunkedDecoder d;
  int status = 0;
  const char* reason = "";
  size_t used = 0;
  std::string_view rest = std::string_view(buf).substr(r.consumed);
  ASSERT_EQ(d.Feed(rest, &used, &req.body, 1024, &status, &reason), ParseState::kDone);
  EXPECT_EQ(req.body, "wikipedia");
  rest.remove_prefix(used);
  Request next;
  next.Reset();
  r = ParseRequestHead(rest, H1Limits(), &next);
  ASSERT_EQ(r.state, ParseState::kDone) << Describe(r);
  EXPECT_EQ(next.path, "/next");
  EXPECT_EQ(r.consumed, rest.size());
}

}  // namespace
}  // namespace hearth

#include "s3/sigv4.h"

#include <algorithm>

#include "base/strings.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"

namespace hearth::s3 {

namespace {

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string Lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out.push_back(AsciiLower(c));
  return out;
}

// Trimmed, inner runs of spaces and tabs as one space (SigV4's header value rule).
std::string CanonicalValue(std::string_view v) {
  v = TrimOws(v);
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

// Lower-cased names, sorted; a name given twice has its values joined by ','
// in the order given.
Pairs CanonicalHeaders(const Pairs& headers) {
  Pairs sorted;
  for (const auto& [name, value] : headers) sorted.emplace_back(Lower(name), CanonicalValue(value));
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  Pairs merged;
  for (auto& [name, value] : sorted) {
    if (!merged.empty() && merged.back().first == name) {
      merged.back().second += "," + value;
    } else {
      merged.emplace_back(std::move(name), std::move(value));
    }
  }
  return merged;
}

}  // namespace

std::string UriEncode(std::string_view text, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (Unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string EncodePath(std::string_view path) {
  if (path.empty()) return "/";
  return UriEncode(path, true);
}

std::string EncodeQuery(const Pairs& query) {
  Pairs encoded;
  for (const auto& [name, value] : query)
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name + "=" + value;
  }
  return out;
}

std::string SignedHeaders(const SignInput& in) {
  std::string out;
  for (const auto& [name, value] : CanonicalHeaders(in.headers)) {
    if (!out.empty()) out.push_back(';');
    out += name;
  }
  return out;
}

std::string CanonicalRequest(const SignInput& in) {
  std::string out = in.method + "\n" + EncodePath(in.path) + "\n" + EncodeQuery(in.query) + "\n";
  for (const auto& [name, value] : CanonicalHeaders(in.headers)) out += name + ":" + value + "\n";
  out += "\n" + SignedHeaders(in) + "\n" + in.payload_hash;
  return out;
}

std::string Authorization(const SignInput& in, const Credentials& creds, std::string_view region,
                          std::string_view service, std::string_view amz_date) {
  std::string date(amz_date.substr(0, 8));
  std::string scope =
      date + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
  std::string to_sign = "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + scope + "\n" +
                        crypto::Sha256Hex(CanonicalRequest(in));
  std::string key = crypto::HmacSha256("AWS4" + creds.secret, date);
  key = crypto::HmacSha256(key, region);
  key = crypto::HmacSha256(key, service);
  key = crypto::HmacSha256(key, "aws4_request");
  std::string signature = crypto::HexEncode(crypto::HmacSha256(key, to_sign));
  return "AWS4-HMAC-SHA256 Credential=" + creds.key_id + "/" + scope +
         ",SignedHeaders=" + SignedHeaders(in) + ",Signature=" + signature;
}

std::string SignS3(SignInput* in, const Credentials& creds, std::string_view region,
                   std::string_view amz_date) {
  in->headers.emplace_back("x-amz-date", std::string(amz_date));
  in->headers.emplace_back("x-amz-content-sha256", in->payload_hash);
  return Authorization(*in, creds, region, "s3", amz_date);
}

std::string AmzDate(time_t t) {
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[20];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &utc);
  return buf;
}

}  // namespace hearth::s3

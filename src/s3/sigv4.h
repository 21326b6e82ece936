#pragma once
// AWS Signature Version 4, our own: libcurl's CURLOPT_AWS_SIGV4 (7.88)
// mis-sorts and mis-encodes the canonical query, so curl is only the
// transport and every S3 request is signed here. The canonical request is
// built from the request's decoded parts, and the URL that goes on the wire
// is built from the same encoders (EncodePath, EncodeQuery), so what is
// signed is what is sent.
//
// S3 flavour: the path is RFC 3986-encoded once (not twice, as other AWS
// services do), '/' kept; query names and values are encoded and sorted by
// name then value; header names are lower-cased and sorted, values trimmed
// with inner runs of spaces collapsed.
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::s3 {

struct Credentials {
  std::string key_id;
  std::string secret;
};

using Pairs = std::vector<std::pair<std::string, std::string>>;

// What is signed: all decoded, as the caller means them.
struct SignInput {
  std::string method;        // GET, PUT, ...
  std::string path;          // "/bucket/a b.txt": decoded; encoded once when signed
  Pairs query;               // decoded names and values; "uploads" is {"uploads", ""}
  Pairs headers;             // every header to sign, host included; names in any case
  std::string payload_hash;  // hex SHA-256 of the body, or UNSIGNED-PAYLOAD
};

// RFC 3986: unreserved bytes (A-Z a-z 0-9 - . _ ~) kept, every other byte as
// %XX in upper-case hex; '/' kept when `keep_slash`.
std::string UriEncode(std::string_view text, bool keep_slash);
// The path and the query as they go on the wire and in the canonical request.
std::string EncodePath(std::string_view path);
std::string EncodeQuery(const Pairs& query);  // sorted by encoded name, then value

std::string CanonicalRequest(const SignInput& in);
// "host;range;x-amz-date": the lower-cased sorted names of in.headers.
std::string SignedHeaders(const SignInput& in);
// The Authorization header's value (without "Authorization: ").
std::string Authorization(const SignInput& in, const Credentials& creds, std::string_view region,
                          std::string_view service, std::string_view amz_date);

// For S3: adds x-amz-date and x-amz-content-sha256 (= in->payload_hash) to
// in->headers and returns the Authorization value to send beside them.
std::string SignS3(SignInput* in, const Credentials& creds, std::string_view region,
                   std::string_view amz_date);

// 20130524T000000Z
std::string AmzDate(time_t t);

}  // namespace hearth::s3

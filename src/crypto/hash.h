#pragma once
// SHA-256 and HMAC-SHA-256 (OpenSSL). Blobs are named by their hex SHA-256,
// API tokens and console sessions are stored as one, JWTs (HS256) and ACME's
// thumbprints and S3's SigV4 signatures are built on them.
#include <string>
#include <string_view>

namespace hearth::crypto {

// The 32 raw bytes of SHA-256(data).
std::string Sha256Digest(std::string_view data);
// The same, as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view data);
// Whether `s` looks like Sha256Hex's output (64 lower-case hex digits).
bool IsSha256Hex(std::string_view s);

// The 16 raw bytes of MD5(data): only where a protocol demands it (S3's
// DeleteObjects needs Content-MD5); never as a name or a check of our own.
std::string Md5Digest(std::string_view data);

// The 32 raw bytes of HMAC-SHA-256(key, data).
std::string HmacSha256(std::string_view key, std::string_view data);

// SHA-256 over bytes that arrive in pieces (a streamed upload, a file read
// in blocks).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view bytes);
  std::string HexDigest();  // lower-case hex; call once, at the end

 private:
  void* ctx_;  // EVP_MD_CTX
};

}  // namespace hearth::crypto

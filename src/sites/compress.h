#pragma once
// Precompressed variants of a site's files, made once at deploy and served by
// Accept-Encoding, so no request pays for compression.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::sites {

enum class Encoding { kBrotli = 0, kZstd = 1, kGzip = 2 };
inline constexpr Encoding kEncodings[] = {Encoding::kBrotli, Encoding::kZstd, Encoding::kGzip};
const char* EncodingName(Encoding e);  // "br", "zstd", "gzip"

// Text-like types by file name (html, css, js, json, svg, ...): worth compressing.
bool Compressible(std::string_view path);

struct Variant {
  Encoding encoding;
  std::string data;
};
// The variants worth keeping: each at least 10% smaller than the original;
// none for inputs under 256 bytes.
std::vector<Variant> Compress(std::string_view data);

// The encoding to send: the best of `available` (bit i = kEncodings[i]) that
// Accept-Encoding allows (q=0 refuses one), or -1 for the identity.
int ChooseEncoding(std::string_view accept_encoding, unsigned available);

// Decoders, for checks and tests.
bool Decompress(Encoding e, std::string_view in, std::string* out);

}  // namespace hearth::sites

#include "sites/compress.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "base/strings.h"

namespace hearth::sites {

const char* EncodingName(Encoding e) {
  switch (e) {
    case Encoding::kBrotli:
      return "br";
    case Encoding::kZstd:
      return "zstd";
    case Encoding::kGzip:
      return "gzip";
  }
  return "identity";
}

bool Compressible(std::string_view path) {
  size_t dot = path.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string ext(path.substr(dot + 1));
  for (auto& c : ext) c = AsciiLower(c);
  static const char* kText[] = {"html", "htm",  "css", "js",  "mjs", "json", "map",
                                "svg",  "txt",  "xml", "md",  "csv", "wasm", "webmanifest",
                                "rss",  "atom", "ico", "ttf", "otf"};
  for (const char* t : kText)
    if (ext == t) return true;
  return false;
}

namespace {
bool Gzip(std::string_view in, std::string* out) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  out->resize(deflateBound(&z, in.size()) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out->data());
  z.avail_out = static_cast<uInt>(out->size());
  int rc = deflate(&z, Z_FINISH);
  out->resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END;
}
}  // namespace

std::vector<Variant> Compress(std::string_view data) {
  std::vector<Variant> out;
  if (data.size() < 256 || data.size() > (64u << 20)) return out;
  size_t worth = data.size() - data.size() / 10;  // keep a variant only if it saves 10%
  {
    std::string br(BrotliEncoderMaxCompressedSize(data.size()), '\0');
    size_t n = br.size();
    // The window must fit the file: a 4 MiB window costs ~3 ms of set-up even
    // for 1 KiB of input, which dominated deploys of many small files.
    int lgwin = BROTLI_MIN_WINDOW_BITS;
    while (lgwin < BROTLI_MAX_WINDOW_BITS - 2 && (size_t{1} << lgwin) < data.size()) ++lgwin;
    if (lgwin < 16) lgwin = 16;
    if (lgwin > BROTLI_DEFAULT_WINDOW) lgwin = BROTLI_DEFAULT_WINDOW;
    // Quality 11 costs ~1 ms per file whatever its size: worth it where the
    // bytes are (32 KiB to 1 MiB), not for thousands of small files.
    int quality =
        (data.size() >= (32u << 10) && data.size() <= (1u << 20)) ? BROTLI_MAX_QUALITY : 9;
    if (BrotliEncoderCompress(quality, lgwin, BROTLI_MODE_TEXT, data.size(),
                              reinterpret_cast<const uint8_t*>(data.data()), &n,
                              reinterpret_cast<uint8_t*>(br.data())) &&
        n < worth) {
      br.resize(n);
      out.push_back({Encoding::kBrotli, std::move(br)});
    }
  }
  {
    std::string zs(ZSTD_compressBound(data.size()), '\0');
    int level = (data.size() >= (32u << 10) && data.size() <= (1u << 20)) ? 19 : 12;
    size_t n = ZSTD_compress(zs.data(), zs.size(), data.data(), data.size(), level);
    if (!ZSTD_isError(n) && n < worth) {
      zs.resize(n);
      out.push_back({Encoding::kZstd, std::move(zs)});
    }
  }
  {
    std::string gz;
    if (Gzip(data, &gz) && gz.size() < worth) out.push_back({Encoding::kGzip, std::move(gz)});
  }
  return out;
}

int ChooseEncoding(std::string_view header, unsigned available) {
  if (header.empty() || available == 0) return -1;
  // Parse "br;q=1.0, gzip;q=0.5, *;q=0" into per-coding q values (-1: absent).
  double q[3] = {-1, -1, -1};
  double star = -1;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = TrimOws(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    size_t semi = item.find(';');
    std::string_view coding = TrimOws(item.substr(0, semi));
    double qv = 1.0;
    if (semi != std::string_view::npos) {
      std::string_view params = TrimOws(item.substr(semi + 1));
      if (params.size() >= 2 && (params[0] == 'q' || params[0] == 'Q') && params[1] == '=') {
        qv = atof(std::string(params.substr(2)).c_str());
      }
    }
    if (coding == "*") star = qv;
    for (int i = 0; i < 3; ++i)
      if (EqualsIgnoreCase(coding, EncodingName(kEncodings[i]))) q[i] = qv;
  }
  int best = -1;
  double best_q = 0;
  for (int i = 0; i < 3; ++i) {  // kEncodings is in order of preference
    if (!(available & (1u << i))) continue;
    double v = q[i] >= 0 ? q[i] : star;
    if (v > best_q) {
      best = i;
      best_q = v;
    }
  }
  return best;
}

bool Decompress(Encoding e, std::string_view in, std::string* out) {
  out->clear();
  if (e == Encoding::kZstd) {
    unsigned long long n = ZSTD_getFrameContentSize(in.data(), in.size());
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN || n > (256ull << 20))
      return false;
    out->resize(n);
    size_t got = ZSTD_decompress(out->data(), out->size(), in.data(), in.size());
    return !ZSTD_isError(got) && got == n;
  }
  if (e == Encoding::kBrotli) {
    BrotliDecoderState* s = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
    const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
    size_t avail_in = in.size();
    BrotliDecoderResult r;
    do {
      uint8_t buf[65536];
      uint8_t* next_out = buf;
      size_t avail_out = sizeof buf;
      r = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, nullptr);
      out->append(reinterpret_cast<char*>(buf), sizeof buf - avail_out);
    } while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT);
    BrotliDecoderDestroyInstance(s);
    return r == BROTLI_DECODER_RESULT_SUCCESS;
  }
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc;
  do {
    char buf[65536];
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out->append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&z);
  return rc == Z_STREAM_END;
}

}  // namespace hearth::sites

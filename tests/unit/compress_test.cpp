#include "sites/compress.h"

#include <gtest/gtest.h>

namespace hearth::sites {
namespace {

std::string Text() {
  std::string s;
  for (int i = 0; i < 200; ++i)
    s += "<p>the quick brown fox jumps over the lazy dog " + std::to_string(i) + "</p>\n";
  return s;
}

TEST(Compress, EveryVariantDecodesToTheOriginal) {
  std::string text = Text();
  auto variants = Compress(text);
  ASSERT_EQ(variants.size(), 3u);
  for (const auto& v : variants) {
    EXPECT_LT(v.data.size(), text.size() / 2) << EncodingName(v.encoding);
    std::string back;
    ASSERT_TRUE(Decompress(v.encoding, v.data, &back)) << EncodingName(v.encoding);
    EXPECT_EQ(back, text) << EncodingName(v.encoding);
  }
}

TEST(Compress, SkipsSmallAndIncompressibleInput) {
  EXPECT_TRUE(Compress("tiny").empty());
  std::string noise;
  uint32_t x = 12345;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1103515245 + 12345;
    noise.push_back(static_cast<char>(x >> 16));
  }
  EXPECT_TRUE(Compress(noise).empty());
}

TEST(Compress, CompressibleByName) {
  EXPECT_TRUE(Compressible("index.html"));
  EXPECT_TRUE(Compressible("a/b/app.JS"));
  EXPECT_TRUE(Compressible("x.svg"));
  EXPECT_FALSE(Compressible("photo.jpg"));
  EXPECT_FALSE(Compressible("archive.zip"));
  EXPECT_FALSE(Compressible("README"));
}

TEST(Compress, ChooseEncodingFollowsAcceptEncoding) {
  const unsigned all = 7, gzip_only = 4;
  EXPECT_EQ(ChooseEncoding("", all), -1);
  EXPECT_EQ(ChooseEncoding("gzip, deflate, br", all), 0);  // brotli preferred
  EXPECT_EQ(ChooseEncoding("gzip, deflate, br, zstd", all), 0);
  EXPECT_EQ(ChooseEncoding("zstd, gzip", all), 1);
  EXPECT_EQ(ChooseEncoding("gzip", all), 2);
  EXPECT_EQ(ChooseEncoding("br;q=0, gzip", all), 2);          // q=0 refuses
  EXPECT_EQ(ChooseEncoding("br;q=0.1, gzip;q=0.9", all), 2);  // higher q wins
  EXPECT_EQ(ChooseEncoding("*", all), 0);
  EXPECT_EQ(ChooseEncoding("*;q=0", all), -1);
  EXPECT_EQ(ChooseEncoding("br", gzip_only), -1);  // only what is stored
  EXPECT_EQ(ChooseEncoding("GZIP", gzip_only), 2);
  EXPECT_EQ(ChooseEncoding("identity", all), -1);
}

TEST(Compress, DecompressRefusesGarbage) {
  std::string out;
  EXPECT_FALSE(Decompress(Encoding::kGzip, "not gzip", &out));
  EXPECT_FALSE(Decompress(Encoding::kZstd, "not zstd", &out));
  EXPECT_FALSE(Decompress(Encoding::kBrotli, "\xff\xff\xff not brotli", &out));
}

}  // namespace
}  // namespace hearth::sites

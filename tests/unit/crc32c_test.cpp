#include "base/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace hearth {
namespace {

TEST(Crc32c, CheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

// RFC 3720 (iSCSI), appendix B.4.
TEST(Crc32c, Rfc3720Vectors) {
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string up, down;
  for (int i = 0; i < 32; ++i) {
    up.push_back(static_cast<char>(i));
    down.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Crc32c(up), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(down), 0x113FDB5Cu);
  const unsigned char pdu[48] = {0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0,    0, 0, 0,    0, 0, 0, 0,
                                 0x14, 0,    0, 0, 0, 0, 4, 0, 0,    0, 0, 0x14, 0, 0, 0, 0x18,
                                 0x28, 0,    0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0,    0, 0, 0, 0};
  EXPECT_EQ(Crc32c(std::string(reinterpret_cast<const char*>(pdu), sizeof pdu)), 0xD9963A56u);
}

// The 8-byte fast path and the byte tail agree at every split and alignment,
// and a CRC continues across pieces.
TEST(Crc32c, PiecesAndAlignment) {
  std::string text;
  for (int i = 0; i < 100; ++i) text.push_back(static_cast<char>(i * 37 + 11));
  uint32_t whole = Crc32c(text);
  for (size_t split = 0; split <= text.size(); ++split)
    EXPECT_EQ(Crc32c(text.substr(split), Crc32c(text.substr(0, split))), whole) << split;
  // Bitwise reference over an unaligned window.
  for (size_t start = 0; start < 9; ++start) {
    std::string w = text.substr(start, 77);
    uint32_t c = 0xFFFFFFFF;
    for (unsigned char b : w) {
      c ^= b;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78 : c >> 1;
    }
    EXPECT_EQ(Crc32c(w), ~c) << start;
  }
}

}  // namespace
}  // namespace hearth

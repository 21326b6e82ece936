// The shared crypto library: encodings, hashes, JWTs, passwords, random ids.
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/jwt.h"
#include "crypto/password.h"
#include "crypto/random.h"

namespace hearth::crypto {
namespace {

TEST(Crypto, Base64UrlRoundTrips) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar",
                                                std::string("\xff\xfe\x00\x01", 4)}) {
    auto back = Base64UrlDecode(Base64UrlEncode(s));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_FALSE(Base64UrlDecode("a").has_value());
  EXPECT_FALSE(Base64UrlDecode("ab=c").has_value());
}

// RFC 4648's vectors, without padding and in the URL alphabet (ACME, JWS).
TEST(Crypto, Base64UrlHasNoPaddingAndTheUrlAlphabet) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode(std::string("\xfb\xff\xfe", 3)), "-__-");
  EXPECT_EQ(Base64UrlEncode(std::string(32, '\0')).size(), 43u) << "an API token's 32 bytes";
}

// RFC 4648 §10's vectors in the standard alphabet, padded (S3's Content-MD5).
TEST(Crypto, Base64IsPaddedWithTheStandardAlphabet) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xfb\xff\xfe", 3)), "+//+");
}

// RFC 1321 §A.5's test suite.
TEST(Crypto, Md5) {
  EXPECT_EQ(HexEncode(Md5Digest("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(HexEncode(Md5Digest("abc")), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(HexEncode(Md5Digest("message digest")), "f96b697d7cb7938d525a2f31aaf161d0");
}

TEST(Crypto, Sha256) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha256Digest("abc")), Sha256Hex("abc"));
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("x")));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A'))) << "lower-case only";
  Sha256 pieces;
  pieces.Update("ab");
  pieces.Update("c");
  EXPECT_EQ(pieces.HexDigest(), Sha256Hex("abc"));
}

// RFC 4231, test case 2.
TEST(Crypto, HmacSha256) {
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, JwtsAreSignedAndExpire) {
  nlohmann::json payload = {{"id", "abc"}, {"type", "auth"}, {"exp", 2000}};
  std::string t = MakeJwt(payload, "key1");
  EXPECT_TRUE(CheckJwt(t, "key1", 1999));
  EXPECT_FALSE(CheckJwt(t, "key1", 2000)) << "expired";
  EXPECT_FALSE(CheckJwt(t, "key2", 1000)) << "another key";
  auto peek = PeekJwt(t);
  ASSERT_TRUE(peek.has_value());
  EXPECT_EQ((*peek)["id"], "abc");
  // A changed payload with the old signature fails.
  std::string forged = t.substr(0, t.find('.') + 1) +
                       Base64UrlEncode(R"({"id":"root","type":"auth","exp":9999})") +
                       t.substr(t.rfind('.'));
  EXPECT_FALSE(CheckJwt(forged, "key1", 1000));
  for (const char* bad : {"", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.x"})
    EXPECT_FALSE(PeekJwt(bad).has_value()) << bad;
  // alg must be HS256 ("none" tokens are refused).
  std::string none = Base64UrlEncode(R"({"alg":"none"})") + "." +
                     Base64UrlEncode(R"({"id":"x","exp":9999})") + ".";
  EXPECT_FALSE(PeekJwt(none).has_value());
  EXPECT_FALSE(CheckJwt(none, "key1", 1000));
}

TEST(Crypto, PasswordsHashWithArgon2id) {
  std::string h = HashPassword("correct horse");
  EXPECT_EQ(h.rfind("$argon2id$", 0), 0u) << h;
  EXPECT_TRUE(VerifyPassword(h, "correct horse"));
  EXPECT_FALSE(VerifyPassword(h, "correct horsE"));
  EXPECT_FALSE(VerifyPassword("", "x"));
  EXPECT_NE(HashPassword("correct horse"), h) << "salted";
}

TEST(Crypto, RandomCharsAreLowerCaseAlphanumericAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = RandomChars(15);
    ASSERT_EQ(id.size(), 15u);
    for (char c : id) ASSERT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  // Every character of the alphabet turns up (no byte value is mapped away).
  std::set<char> chars;
  for (char c : RandomChars(5000)) chars.insert(c);
  EXPECT_EQ(chars.size(), 36u);
  // Each thread draws from its own pool.
  std::string a, b;
  std::thread t1([&] { a = RandomChars(32); }), t2([&] { b = RandomChars(32); });
  t1.join();
  t2.join();
  EXPECT_NE(a, b);
  EXPECT_EQ(RandomBytes(16).size(), 16u);
  EXPECT_NE(RandomBytes(16), RandomBytes(16));
}

}  // namespace
}  // namespace hearth::crypto

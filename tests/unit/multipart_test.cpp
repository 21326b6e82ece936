#include "http/multipart.h"

#include <gtest/gtest.h>

namespace hearth {
namespace {

TEST(Multipart, BoundaryFromContentType) {
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=----abc"), "----abc");
  EXPECT_EQ(*MultipartBoundary("Multipart/Form-Data;boundary=\"x y\""), "x y");
  EXPECT_FALSE(MultipartBoundary("application/json").ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data").ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'a')).ok());
}

TEST(Multipart, PartsWithNamesFilesAndBytes) {
  std::string body =
      "--XX\r\nContent-Disposition: form-data; name=\"@jsonPayload\"\r\n\r\n{\"a\":1}\r\n"
      "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n"
      "line1\r\nline2\r\n"
      "--XX--\r\n";
  auto parts = ParseMultipart(body, "XX");
  ASSERT_TRUE(parts.ok()) << parts.error().message;
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "@jsonPayload");
  EXPECT_EQ((*parts)[0].data, "{\"a\":1}");
  EXPECT_EQ((*parts)[1].filename, "a.txt");
  EXPECT_EQ((*parts)[1].content_type, "text/plain");
  EXPECT_EQ((*parts)[1].data, "line1\r\nline2");
}

TEST(Multipart, RefusesMalformedBodies) {
  for (const char* bad : {"", "--XY\r\n", "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
                          "--XX\r\nno colon\r\n\r\nx\r\n--XX--", "--XX\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XX--",
                          "--XX\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XX--", "--XXjunk"}) {
    EXPECT_FALSE(ParseMultipart(bad, "XX").ok()) << bad;
  }
}

}  // namespace
}  // namespace hearth

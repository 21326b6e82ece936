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
      "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: "
      "text/plain\r\n\r\n"
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

TEST(Multipart, AQuotedFileNameMayHoldASemicolon) {
  std::string body =
      "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a;b.png\"\r\n\r\nx\r\n--XX--";
  auto parts = ParseMultipart(body, "XX");
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ((*parts)[0].name, "f");
  EXPECT_EQ((*parts)[0].filename, "a;b.png");
}

TEST(Multipart, RefusesMalformedBodies) {
  for (const char* bad :
       {"", "--XY\r\n", "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
        "--XX\r\nno colon\r\n\r\nx\r\n--XX--",
        "--XX\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XX--",
        "--XX\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XX--", "--XXjunk"}) {
    EXPECT_FALSE(ParseMultipart(bad, "XX").ok()) << bad;
  }
}

// Everything a reader is told, as text: "part NAME FILE|data...|end".
struct Transcript : MultipartReader::Events {
  std::string text;
  Status OnPart(const FormPart& h) override {
    text += "part " + h.name + " " + h.filename + "|";
    return OkStatus();
  }
  Status OnData(std::string_view b) override {
    text.append(b);
    return OkStatus();
  }
  Status OnPartEnd() override {
    text += "|end\n";
    return OkStatus();
  }
};

TEST(Multipart, TheReaderReadsAnyCutOfTheBodyAsTheWholeIsRead) {
  std::string body =
      "--XX\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n"
      "--XX\r\nContent-Disposition: form-data; name=\"files\"; filename=\"d/a.txt\"\r\n\r\n"
      "a\r\n--X not the end\r\n--XX\r\n"
      "Content-Disposition: form-data; name=\"files\"; "
      "filename=\"d/empty\"\r\n\r\n\r\n--XX--\r\nepilogue";
  const std::string want =
      "part csrf |tok|end\npart files d/a.txt|a\r\n--X not the end|end\npart files d/empty||end\n";
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    Transcript t;
    MultipartReader r("XX", &t);
    ASSERT_TRUE(r.Feed(std::string_view(body).substr(0, cut)).ok()) << cut;
    ASSERT_TRUE(r.Feed(std::string_view(body).substr(cut)).ok()) << cut;
    ASSERT_TRUE(r.Finish().ok()) << cut;
    EXPECT_EQ(t.text, want) << cut;
  }
  // Byte by byte, too.
  Transcript t;
  MultipartReader r("XX", &t);
  for (char c : body) ASSERT_TRUE(r.Feed(std::string_view(&c, 1)).ok());
  ASSERT_TRUE(r.Finish().ok());
  EXPECT_EQ(t.text, want);
}

TEST(Multipart, TheReaderRefusesWhatParseMultipartRefuses) {
  for (const char* bad :
       {"", "--XY\r\n", "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
        "--XX\r\nno colon\r\n\r\nx\r\n--XX--",
        "--XX\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XX--",
        "--XX\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XX--", "--XXjunk", "--XX-"}) {
    Transcript t;
    MultipartReader r("XX", &t);
    Status st = r.Feed(bad);
    if (st.ok()) st = r.Finish();
    EXPECT_FALSE(st.ok()) << bad;
  }
}

TEST(Multipart, TheReaderBoundsPartsAndHeaderLinesHoweverTheBodyIsCut) {
  std::string part = "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n";
  for (size_t piece : {size_t{1}, size_t{7}, size_t{100000}}) {
    Transcript t;
    MultipartReader r("XX", &t, /*max_parts=*/2);
    std::string body = part + part + part + "--XX--";
    Status st = OkStatus();
    for (size_t at = 0; at < body.size() && st.ok(); at += piece)
      st = r.Feed(std::string_view(body).substr(at, piece));
    ASSERT_FALSE(st.ok()) << piece;
    EXPECT_EQ(st.error().message, "more than 2 parts");
    std::string long_line = "--XX\r\nX-Long: " + std::string(20000, 'a') + "\r\n";
    MultipartReader r2("XX", &t);
    st = OkStatus();
    for (size_t at = 0; at < long_line.size() && st.ok(); at += piece)
      st = r2.Feed(std::string_view(long_line).substr(at, piece));
    EXPECT_FALSE(st.ok()) << piece;
  }
}

TEST(Multipart, AReaderStopsWhenItsEventsRefuse) {
  struct Refuser : Transcript {
    Status OnPart(const FormPart& h) override {
      if (h.name != "csrf") return Error{"the token comes first"};
      return Transcript::OnPart(h);
    }
  } t;
  MultipartReader r("XX", &t);
  Status st =
      r.Feed("--XX\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a\"\r\n\r\nbytes");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "the token comes first");
  EXPECT_FALSE(r.Feed("more").ok());
  EXPECT_EQ(t.text, "");
}

}  // namespace
}  // namespace hearth

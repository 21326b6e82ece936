// The bounded XML scanner and S3's answers read from it: listings, multipart
// ids, errors (also inside a 200), delete results; entities decoded; bounds
// on size, depth and count refuse what would cost too much.
#include <gtest/gtest.h>

#include "s3/xml.h"

namespace hearth::s3 {
namespace {

TEST(S3Xml, ReadsAListingPage) {
  auto page = ParseListPage(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>p/a&amp;b &lt;1&gt;</Key><LastModified>2026-12-07T10:00:00.000Z</LastModified>
    <ETag>&quot;abc&quot;</ETag><Size>1234</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>p/&#233;t&#xE9;</Key><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>p/sub/</Prefix></CommonPrefixes>
</ListBucketResult>)");
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "p/a&b <1>");
  EXPECT_EQ(page->objects[0].size, 1234u);
  EXPECT_EQ(page->objects[0].last_modified, "2026-12-07T10:00:00.000Z");
  EXPECT_EQ(page->objects[1].key, "p/\xc3\xa9t\xc3\xa9");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"p/sub/"});
}

TEST(S3Xml, ReadsTheOtherAnswers) {
  auto id = ParseUploadId(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
      "<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "VXBsb2FkIElE");
  auto err = ParseErrorBody(
      "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>"
      "<Message>The specified bucket does not exist</Message><BucketName>x</BucketName></Error>");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, "NoSuchBucket");
  EXPECT_EQ(err->message, "The specified bucket does not exist");
  EXPECT_FALSE(ParseErrorBody("<ListBucketResult/>").has_value());
  EXPECT_FALSE(ParseErrorBody("").has_value());
  auto etag = ParseCompleteResult(
      "<CompleteMultipartUploadResult><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
      "</CompleteMultipartUploadResult>");
  ASSERT_TRUE(etag.ok());
  EXPECT_EQ(*etag, "\"3858f62230ac3c915f300c664312c11f-9\"");
  EXPECT_FALSE(ParseCompleteResult("<Error><Code>InternalError</Code></Error>").ok());
  auto del = ParseDeleteResult(
      "<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied</Code>"
      "<Message>no</Message></Error></DeleteResult>");
  ASSERT_TRUE(del.ok());
  ASSERT_EQ(del->size(), 1u);
  EXPECT_EQ((*del)[0].key, "b");
  EXPECT_EQ((*del)[0].code, "AccessDenied");
}

TEST(S3Xml, CdataCommentsNamespacesAndEmptyElements) {
  auto root = ParseXml(
      "<!-- hi --><s3:R xmlns:s3='x'><A><![CDATA[<raw & text>]]></A><!-- c --><B/>"
      "<C attr=\"a>b\">t</C></s3:R>");
  ASSERT_TRUE(root.ok()) << root.error().message;
  EXPECT_EQ(root->name, "R");
  EXPECT_EQ(root->ChildText("A"), "<raw & text>");
  ASSERT_NE(root->Child("B"), nullptr);
  EXPECT_EQ(root->ChildText("C"), "t");
  EXPECT_EQ(root->Child("D"), nullptr);
}

TEST(S3Xml, RefusesWhatIsMalformedOrTooBig) {
  const char* bad[] = {
      "",
      "text only",
      "<A>",
      "<A></B>",
      "<A>&unknown;</A>",
      "<A>&#0;</A>",
      "<A>&#xD800;</A>",
      "<A>&#x110000;</A>",
      "<A>&amp</A>",
      "<!DOCTYPE A [<!ENTITY e \"x\">]><A>&e;</A>",
      "<A/><B/>",
      "<A attr=\"unterminated></A>",
      "<A><![CDATA[never ends</A>",
      "<>",
      "<:/>",  // found by s3_xml_fuzz: a prefix with no local name
      "<a:></a:>",
  };
  for (const char* x : bad) EXPECT_FALSE(ParseXml(x).ok()) << x;
  std::string deep;
  for (int i = 0; i < kMaxXmlDepth + 1; ++i) deep += "<a>";
  for (int i = 0; i < kMaxXmlDepth + 1; ++i) deep += "</a>";
  EXPECT_FALSE(ParseXml(deep).ok());
  std::string ok_depth;
  for (int i = 0; i < kMaxXmlDepth; ++i) ok_depth += "<a>";
  for (int i = 0; i < kMaxXmlDepth; ++i) ok_depth += "</a>";
  EXPECT_TRUE(ParseXml(ok_depth).ok());
  std::string many = "<r>";
  for (size_t i = 0; i < kMaxXmlElements; ++i) many += "<a/>";
  many += "</r>";
  auto too_many = ParseXml(many);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().message.find("more than 200000 elements"), std::string::npos);
  EXPECT_FALSE(ParseXml("<r>" + std::string(kMaxXmlBytes, 'x') + "</r>").ok());
  // A truncated listing must say where to go on.
  EXPECT_FALSE(
      ParseListPage("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>").ok());
  EXPECT_FALSE(ParseListPage("<ListBucketResult><Contents><Size>-1</Size><Key>k</Key></Contents>"
                             "</ListBucketResult>")
                   .ok());
  EXPECT_FALSE(ParseUploadId("<InitiateMultipartUploadResult/>").ok());
}

TEST(S3Xml, EscapeRoundTrips) {
  std::string text = "a&b<c>\"d'e";
  auto root = ParseXml("<K>" + XmlEscape(text) + "</K>");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->text, text);
}

}  // namespace
}  // namespace hearth::s3

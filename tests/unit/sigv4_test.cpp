// The SigV4 signer against AWS's published signatures: the four S3 examples of
// "Signature Calculations for the Authorization Header" (examplebucket,
// AKIAIOSFODNN7EXAMPLE, 20130524T000000Z) and cases of AWS's SigV4 test suite
// (AKIDEXAMPLE, 20150830T123600Z, service "service"). Every expected value
// below is copied from those documents, never produced by this code.
#include "s3/sigv4.h"

#include <gtest/gtest.h>

#include "crypto/hash.h"

namespace hearth::s3 {
namespace {

const Credentials kS3Example{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
const Credentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
const std::string kEmptySha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct S3Example {
  const char* name;
  SignInput in;  // before SignS3 adds x-amz-date and x-amz-content-sha256
  std::string authorization;
};

TEST(SigV4, AwsS3Examples) {
  const std::string prefix =
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,";
  std::vector<S3Example> rows = {
      {"GET object with Range",
       {"GET",
        "/test.txt",
        {},
        {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}},
        kEmptySha},
       prefix + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature="
                "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
      {"PUT object",
       {"PUT",
        "/test$file.text",
        {},
        {{"Host", "examplebucket.s3.amazonaws.com"},
         {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
         {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
        crypto::Sha256Hex("Welcome to Amazon S3.")},
       prefix + "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
                "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
      {"GET bucket lifecycle",
       {"GET", "/", {{"lifecycle", ""}}, {{"Host", "examplebucket.s3.amazonaws.com"}}, kEmptySha},
       prefix + "SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature="
                "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
      {"GET bucket (list objects), query given out of order",
       {"GET",
        "/",
        {{"prefix", "J"}, {"max-keys", "2"}},
        {{"Host", "examplebucket.s3.amazonaws.com"}},
        kEmptySha},
       prefix + "SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature="
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
  };
  for (auto& row : rows) {
    SignInput in = row.in;
    EXPECT_EQ(SignS3(&in, kS3Example, "us-east-1", "20130524T000000Z"), row.authorization)
        << row.name << "\n"
        << CanonicalRequest(in);
  }
}

// The PUT example's canonical request, as the document prints it: '$' encoded once.
TEST(SigV4, CanonicalRequestOfThePutExample) {
  SignInput in{"PUT",
               "/test$file.text",
               {},
               {{"Host", "examplebucket.s3.amazonaws.com"},
                {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
               "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"};
  SignS3(&in, kS3Example, "us-east-1", "20130524T000000Z");
  EXPECT_EQ(
      CanonicalRequest(in),
      "PUT\n/test%24file.text\n\n"
      "date:Fri, 24 May 2013 00:00:00 GMT\n"
      "host:examplebucket.s3.amazonaws.com\n"
      "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
      "x-amz-date:20130524T000000Z\n"
      "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
      "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
}

struct SuiteCase {
  const char* name;
  std::string method, path;
  Pairs query, extra_headers;
  std::string body;
  std::string signed_headers, signature;
};

TEST(SigV4, AwsTestSuite) {
  std::vector<SuiteCase> rows = {
      {"get-vanilla",
       "GET",
       "/",
       {},
       {},
       "",
       "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-vanilla-query-order-key-case",
       "GET",
       "/",
       {{"Param2", "value2"}, {"Param1", "value1"}},
       {},
       "",
       "host;x-amz-date",
       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-query-unreserved",
       "GET",
       "/",
       {{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
         "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}},
       {},
       "",
       "host;x-amz-date",
       "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
      {"get-vanilla-utf8-query",
       "GET",
       "/",
       {{"\xe1\x88\xb4", "bar"}},
       {},
       "",
       "host;x-amz-date",
       "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-unreserved",
       "GET",
       "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       {},
       {},
       "",
       "host;x-amz-date",
       "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"get-utf8 (encoded path)",
       "GET",
       "/\xe1\x88\xb4",
       {},
       {},
       "",
       "host;x-amz-date",
       "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      {"get-space",
       "GET",
       "/example space/",
       {},
       {},
       "",
       "host;x-amz-date",
       "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
      {"get-header-value-trim",
       "GET",
       "/",
       {},
       {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}},
       "",
       "host;my-header1;my-header2;x-amz-date",
       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {"get-header-value-order",
       "GET",
       "/",
       {},
       {{"My-Header1", "value4,value1,value3,value2"}},
       "",
       "host;my-header1;x-amz-date",
       "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {"post-vanilla",
       "POST",
       "/",
       {},
       {},
       "",
       "host;x-amz-date",
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"post-vanilla-query",
       "POST",
       "/",
       {{"Param1", "value1"}},
       {},
       "",
       "host;x-amz-date",
       "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
      {"post-vanilla-query-nonunreserved",
       "POST",
       "/",
       {{"@#$%^", ""}, {"+", "/,?><`\";:\\|][{}"}},
       {},
       "",
       "host;x-amz-date",
       "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"},
      {"post-header-key-sort",
       "POST",
       "/",
       {},
       {{"My-Header1", "value1"}},
       "",
       "host;my-header1;x-amz-date",
       "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
      {"post-x-www-form-urlencoded",
       "POST",
       "/",
       {},
       {{"Content-Type", "application/x-www-form-urlencoded"}},
       "Param1=value1",
       "content-type;host;x-amz-date",
       "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
  };
  for (const auto& row : rows) {
    SignInput in{row.method,
                 row.path,
                 row.query,
                 {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
                 crypto::Sha256Hex(row.body)};
    for (const auto& h : row.extra_headers) in.headers.push_back(h);
    std::string auth = Authorization(in, kSuite, "us-east-1", "service", "20150830T123600Z");
    EXPECT_EQ(auth,
              "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
              "aws4_request,SignedHeaders=" +
                  row.signed_headers + ",Signature=" + row.signature)
        << row.name << "\n"
        << CanonicalRequest(in);
  }
}

TEST(SigV4, EncodersKeepUnreservedAndSlashOnlyInPaths) {
  EXPECT_EQ(EncodePath("/bucket/a b/c+d=e~f"), "/bucket/a%20b/c%2Bd%3De~f");
  EXPECT_EQ(EncodePath(""), "/");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(EncodeQuery({{"b", "2"}, {"a", "z"}, {"a", "y"}, {"uploads", ""}}),
            "a=y&a=z&b=2&uploads=");
  EXPECT_EQ(AmzDate(0), "19700101T000000Z");
}

}  // namespace
}  // namespace hearth::s3

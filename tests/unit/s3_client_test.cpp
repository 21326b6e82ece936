// S3Client over a canned transport: no socket, no sleep. What it sends
// (addressing, signing headers, the multipart sequence, paging), and what it
// does with each answer (retry or not, how often, how long it waits, the
// error it reports), table-driven where the behaviour is a mapping.
#include <gtest/gtest.h>

#include <deque>
#include <fstream>

#include "crypto/hash.h"
#include "s3/client.h"

namespace hearth::s3 {
namespace {

using std::chrono::milliseconds;

// A transport that answers from a script, in order, and records each call.
struct Canned {
  std::deque<Result<HttpAnswer>> script;
  std::vector<HttpCall> calls;
  std::vector<milliseconds> sleeps;

  S3ClientOptions Options(std::string endpoint = "http://127.0.0.1:9000") {
    S3ClientOptions o;
    o.endpoint = std::move(endpoint);
    o.bucket = "bucket";
    o.prefix = "p";
    o.creds = {"KEY", "SECRET"};
    o.transport = [this](const HttpCall& c) -> Result<HttpAnswer> {
      calls.push_back(c);
      if (script.empty()) return Error{"script ran out"};
      auto a = script.front();
      script.pop_front();
      if (a.ok() && !c.save_to.empty() && a->status == 200) {
        std::ofstream(c.save_to) << a->body;
        a->body.clear();
      }
      return a;
    };
    o.sleep = [this](milliseconds d) { sleeps.push_back(d); };
    o.now = [] { return time_t{1369353600}; };  // 2013-05-24
    return o;
  }
  std::unique_ptr<S3Client> Client(S3ClientOptions o) {
    auto c = S3Client::Make(std::move(o));
    EXPECT_TRUE(c.ok()) << c.error().message;
    return std::move(*c);
  }
};

Result<HttpAnswer> Answer(long status, std::string body = "", Pairs headers = {}) {
  HttpAnswer a;
  a.status = status;
  a.body = std::move(body);
  a.headers = std::move(headers);
  return a;
}

Result<HttpAnswer> S3Err(long status, const std::string& code, const std::string& msg = "msg") {
  return Answer(status, "<Error><Code>" + code + "</Code><Message>" + msg + "</Message></Error>");
}

std::string HeaderOf(const HttpCall& c, const std::string& name) {
  for (const auto& h : c.headers)
    if (h.rfind(name + ": ", 0) == 0) return h.substr(name.size() + 2);
  return "";
}

TEST(S3Client, PathStyleForAnEndpointVirtualHostForAwsAndSignedBodies) {
  Canned t;
  t.script = {Answer(200)};
  auto c = t.Client(t.Options());
  ASSERT_TRUE(c->Put("a b/c.txt", "hello").ok());
  ASSERT_EQ(t.calls.size(), 1u);
  EXPECT_EQ(t.calls[0].method, "PUT");
  EXPECT_EQ(t.calls[0].url, "http://127.0.0.1:9000/bucket/p/a%20b/c.txt");
  EXPECT_EQ(t.calls[0].body, "hello");
  EXPECT_EQ(HeaderOf(t.calls[0], "host"), "127.0.0.1:9000");
  EXPECT_EQ(HeaderOf(t.calls[0], "x-amz-content-sha256"), crypto::Sha256Hex("hello"));
  EXPECT_EQ(HeaderOf(t.calls[0], "x-amz-date"), "20130524T000000Z");
  EXPECT_EQ(HeaderOf(t.calls[0], "Authorization")
                .rfind("AWS4-HMAC-SHA256 Credential=KEY/20130524/us-east-1/s3/aws4_request,"
                       "SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=",
                       0),
            0u);

  Canned aws;
  aws.script = {Answer(200, "x")};
  auto o = aws.Options("");
  o.region = "eu-west-1";
  auto a = aws.Client(o);
  ASSERT_TRUE(a->Get("k").ok());
  EXPECT_EQ(aws.calls[0].url, "https://bucket.s3.eu-west-1.amazonaws.com/p/k");
  EXPECT_EQ(HeaderOf(aws.calls[0], "host"), "bucket.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(a->Describe(), "s3://bucket/p");
}

TEST(S3Client, RefusesBadEndpoints) {
  Canned t;
  for (const char* e : {"ftp://x", "127.0.0.1:9000", "http://h/path", "http://u@h", "http://"}) {
    auto o = t.Options(e);
    EXPECT_FALSE(S3Client::Make(o).ok()) << e;
  }
}

struct RetryRow {
  const char* name;
  std::vector<Result<HttpAnswer>> answers;
  bool ok;
  size_t tries;
  std::string error;  // the exact message when !ok ("" = not checked)
};

TEST(S3Client, RetriesWhatIsWorthRetryingAndReportsTheRest) {
  const Error network{"Couldn't connect to server"};
  std::vector<RetryRow> rows = {
      {"5xx then ok",
       {S3Err(500, "InternalError"), S3Err(503, "ServiceUnavailable"), Answer(200)},
       true,
       3,
       ""},
      {"network error then ok", {network, Answer(200)}, true, 2, ""},
      {"429 then ok", {Answer(429), Answer(200)}, true, 2, ""},
      {"RequestTimeout (400) then ok", {S3Err(400, "RequestTimeout"), Answer(200)}, true, 2, ""},
      {"SlowDown five times",
       {S3Err(503, "SlowDown", "Reduce your request rate."), S3Err(503, "SlowDown"),
        S3Err(503, "SlowDown"), S3Err(503, "SlowDown"),
        S3Err(503, "SlowDown", "Reduce your request rate.")},
       false,
       5,
       "S3 refused PutObject on bucket/p/k: SlowDown (503): Reduce your request rate. (after 5 "
       "tries)"},
      {"network down",
       {network, network, network, network, network},
       false,
       5,
       "S3 PutObject on bucket/p/k failed: Couldn't connect to server (after 5 tries)"},
      {"wrong secret",
       {S3Err(403, "SignatureDoesNotMatch", "The request signature we calculated does not match")},
       false,
       1,
       "S3 refused PutObject on bucket/p/k: SignatureDoesNotMatch (403): The request signature we "
       "calculated does not match"},
      {"unknown key id", {S3Err(403, "InvalidAccessKeyId")}, false, 1, ""},
      {"access denied", {S3Err(403, "AccessDenied")}, false, 1, ""},
      {"no bucket",
       {S3Err(404, "NoSuchBucket", "The specified bucket does not exist")},
       false,
       1,
       "S3 refused PutObject on bucket/p/k: NoSuchBucket (404): The specified bucket does not "
       "exist"},
      {"a 400 without a body",
       {Answer(400)},
       false,
       1,
       "S3 refused PutObject on bucket/p/k: HTTP 400"},
  };
  for (auto& row : rows) {
    Canned t;
    t.script.assign(row.answers.begin(), row.answers.end());
    auto c = t.Client(t.Options());
    Status st = c->Put("k", "v");
    EXPECT_EQ(st.ok(), row.ok) << row.name;
    EXPECT_EQ(t.calls.size(), row.tries) << row.name;
    EXPECT_EQ(t.sleeps.size(), row.tries - 1) << row.name;
    if (!row.ok && !row.error.empty()) {
      EXPECT_EQ(st.error().message, row.error) << row.name;
    }
  }
}

TEST(S3Client, BackoffDoublesFrom200msUpTo30sWithJitter) {
  Canned t;
  for (int i = 0; i < 12; ++i) t.script.push_back(Answer(500));
  auto o = t.Options();
  o.max_tries = 12;
  auto c = t.Client(o);
  EXPECT_FALSE(c->Put("k", "v").ok());
  ASSERT_EQ(t.sleeps.size(), 11u);
  for (size_t i = 0; i < t.sleeps.size(); ++i) {
    int64_t base = std::min<int64_t>(200 << i, 30000);
    EXPECT_GE(t.sleeps[i].count(), base) << i;
    EXPECT_LE(t.sleeps[i].count(), base + base / 2) << i;
  }
}

TEST(S3Client, MultipartAboveThePartSize) {
  Canned t;
  const std::string create =
      "<InitiateMultipartUploadResult><UploadId>UP1</UploadId></InitiateMultipartUploadResult>";
  t.script = {Answer(200, create), Answer(200, "", {{"etag", "\"e1\""}}),
              Answer(200, "", {{"etag", "\"e2\""}}), Answer(200, "", {{"etag", "\"e3\""}}),
              Answer(200,
                     "<CompleteMultipartUploadResult><ETag>\"x-3\"</ETag>"
                     "</CompleteMultipartUploadResult>")};
  auto o = t.Options();
  o.part_size = 10;
  auto c = t.Client(o);
  std::string data = "0123456789abcdefghijKLMNO";
  ASSERT_TRUE(c->Put("big", data).ok());
  ASSERT_EQ(t.calls.size(), 5u);
  EXPECT_EQ(t.calls[0].method, "POST");
  EXPECT_EQ(t.calls[0].url, "http://127.0.0.1:9000/bucket/p/big?uploads=");
  EXPECT_EQ(t.calls[1].url, "http://127.0.0.1:9000/bucket/p/big?partNumber=1&uploadId=UP1");
  EXPECT_EQ(t.calls[1].body, "0123456789");
  EXPECT_EQ(t.calls[2].body, "abcdefghij");
  EXPECT_EQ(t.calls[3].url, "http://127.0.0.1:9000/bucket/p/big?partNumber=3&uploadId=UP1");
  EXPECT_EQ(t.calls[3].body, "KLMNO");
  EXPECT_EQ(t.calls[4].method, "POST");
  EXPECT_EQ(t.calls[4].url, "http://127.0.0.1:9000/bucket/p/big?uploadId=UP1");
  EXPECT_EQ(t.calls[4].body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag>"
            "</Part><Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag></Part><Part>"
            "<PartNumber>3</PartNumber><ETag>&quot;e3&quot;</ETag></Part>"
            "</CompleteMultipartUpload>");
}

TEST(S3Client, MultipartFromAFileSendsRangesOfIt) {
  std::string path = ::testing::TempDir() + "/s3_client_mp.bin";
  std::ofstream(path) << "0123456789abcdefghijKLMNO";
  Canned t;
  t.script = {Answer(200,
                     "<InitiateMultipartUploadResult><UploadId>U</UploadId>"
                     "</InitiateMultipartUploadResult>"),
              Answer(200, "", {{"etag", "a"}}), Answer(200, "", {{"etag", "b"}}),
              Answer(200, "", {{"etag", "c"}}), Answer(200, "<CompleteMultipartUploadResult/>")};
  auto o = t.Options();
  o.part_size = 10;
  auto c = t.Client(o);
  ASSERT_TRUE(c->PutFile("f", path).ok());
  ASSERT_EQ(t.calls.size(), 5u);
  EXPECT_EQ(t.calls[2].body_file, path);
  EXPECT_EQ(t.calls[2].body_offset, 10u);
  EXPECT_EQ(t.calls[2].body_length, 10u);
  EXPECT_EQ(t.calls[3].body_offset, 20u);
  EXPECT_EQ(t.calls[3].body_length, 5u);
  // Over http the signature covers the bytes: the range's hash, read from the file.
  EXPECT_EQ(HeaderOf(t.calls[3], "x-amz-content-sha256"), crypto::Sha256Hex("KLMNO"));
}

TEST(S3Client, AFailingPartAbortsTheUpload) {
  Canned t;
  t.script = {Answer(200,
                     "<InitiateMultipartUploadResult><UploadId>UP1</UploadId>"
                     "</InitiateMultipartUploadResult>"),
              Answer(200, "", {{"etag", "\"e1\""}}), S3Err(403, "AccessDenied"), Answer(204)};
  auto o = t.Options();
  o.part_size = 10;
  auto c = t.Client(o);
  Status st = c->Put("big", std::string(25, 'x'));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "S3 refused UploadPart on bucket/p/big: AccessDenied (403): msg");
  ASSERT_EQ(t.calls.size(), 4u);
  EXPECT_EQ(t.calls[3].method, "DELETE");
  EXPECT_EQ(t.calls[3].url, "http://127.0.0.1:9000/bucket/p/big?uploadId=UP1");
}

TEST(S3Client, AnErrorInsideCompletes200IsAnErrorAndIsRetried) {
  Canned t;
  t.script = {Answer(200,
                     "<InitiateMultipartUploadResult><UploadId>U</UploadId>"
                     "</InitiateMultipartUploadResult>"),
              Answer(200, "", {{"etag", "a"}}), Answer(200, "", {{"etag", "b"}}),
              Answer(200, "<Error><Code>InternalError</Code></Error>"),
              Answer(200, "<CompleteMultipartUploadResult/>")};
  auto o = t.Options();
  o.part_size = 4;
  auto c = t.Client(o);
  ASSERT_TRUE(c->Put("k", "12345678").ok());
  EXPECT_EQ(t.calls.size(), 5u);
  EXPECT_EQ(t.sleeps.size(), 1u);
}

TEST(S3Client, ListFollowsContinuationTokensAndStripsThePrefix) {
  Canned t;
  t.script = {Answer(200,
                     "<ListBucketResult><IsTruncated>true</IsTruncated>"
                     "<NextContinuationToken>t/1+</NextContinuationToken>"
                     "<Contents><Key>p/a</Key><Size>1</Size></Contents>"
                     "<Contents><Key>p/b</Key><Size>2</Size></Contents></ListBucketResult>"),
              Answer(200,
                     "<ListBucketResult><IsTruncated>false</IsTruncated>"
                     "<Contents><Key>p/c/d</Key><Size>3</Size></Contents>"
                     "</ListBucketResult>")};
  auto c = t.Client(t.Options());
  auto list = c->List("");
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].key, "a");
  EXPECT_EQ((*list)[2].key, "c/d");
  EXPECT_EQ((*list)[2].size, 3u);
  ASSERT_EQ(t.calls.size(), 2u);
  EXPECT_EQ(t.calls[0].url, "http://127.0.0.1:9000/bucket?list-type=2&prefix=p%2F");
  EXPECT_EQ(t.calls[1].url,
            "http://127.0.0.1:9000/bucket?continuation-token=t%2F1%2B&list-type=2&prefix=p%2F");
}

TEST(S3Client, AListingThatRepeatsItsTokenStops) {
  Canned t;
  const char* page =
      "<ListBucketResult><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>same</NextContinuationToken></ListBucketResult>";
  t.script = {Answer(200, page), Answer(200, page)};
  auto c = t.Client(t.Options());
  EXPECT_FALSE(c->List("").ok());
  EXPECT_EQ(t.calls.size(), 2u);
}

TEST(S3Client, DeleteObjectsSendsContentMd5AndReportsPerKeyFailures) {
  Canned t;
  t.script = {Answer(200, "<DeleteResult><Deleted><Key>p/a</Key></Deleted></DeleteResult>"),
              Answer(200,
                     "<DeleteResult><Error><Key>p/b</Key><Code>AccessDenied</Code>"
                     "<Message>no</Message></Error></DeleteResult>")};
  auto c = t.Client(t.Options());
  ASSERT_TRUE(c->DeleteObjects({"a", "x&y"}).ok());
  EXPECT_EQ(t.calls[0].url, "http://127.0.0.1:9000/bucket?delete=");
  EXPECT_EQ(t.calls[0].body,
            "<Delete><Quiet>true</Quiet><Object><Key>p/a</Key></Object><Object><Key>p/x&amp;y</Key>"
            "</Object></Delete>");
  EXPECT_FALSE(HeaderOf(t.calls[0], "content-md5").empty());
  Status st = c->DeleteObjects({"b"});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("AccessDenied"), std::string::npos);
  EXPECT_FALSE(c->DeleteObjects(std::vector<std::string>(1001, "k")).ok());
  EXPECT_EQ(t.calls.size(), 2u) << "over 1000 keys is refused before sending";
}

TEST(S3Client, HeadGetDeleteAndBadKeys) {
  Canned t;
  t.script = {Answer(404), Answer(200, "", {{"content-length", "42"}}), Answer(204),
              Answer(200, "file bytes")};
  auto c = t.Client(t.Options());
  auto missing = c->Head("k");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  auto found = c->Head("k");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->size, 42u);
  EXPECT_TRUE(c->Delete("k").ok());
  EXPECT_EQ(t.calls[2].method, "DELETE");
  std::string path = ::testing::TempDir() + "/s3_client_get.bin";
  ASSERT_TRUE(c->GetToFile("k", path).ok());
  std::ifstream in(path);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "file bytes");
  for (const char* bad : {"", "/abs", "../up", "a/../b", "a//b", "nul\x01"})
    EXPECT_FALSE(c->Put(bad, "x").ok()) << bad;
  EXPECT_EQ(t.calls.size(), 4u) << "bad keys never reach S3";
}

}  // namespace
}  // namespace hearth::s3

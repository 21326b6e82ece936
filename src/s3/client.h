#pragma once
// S3Client: an S3 bucket under a prefix as an ObjectStore. Every request is
// one row of the operation table (client.cpp kOps: method, sub-resource,
// success codes), signed with our own SigV4 (sigv4.h), sent through an
// injectable Transport (transport.h) and retried on what is worth retrying:
// network errors, 5xx, 429, SlowDown and RequestTimeout, with exponential
// backoff (200 ms doubling to 30 s, plus up to half again of jitter), at most
// max_tries tries per request. Anything else comes back at once as an error
// naming the operation, the object, S3's code and the HTTP status:
//   S3 refused PutObject on bucket/key: SignatureDoesNotMatch (403): ...
//
// Addressing: path-style (endpoint/bucket/key) for a custom endpoint (MinIO,
// s3rver, an IP), virtual-host (bucket.s3.region.amazonaws.com/key) for AWS.
// Objects larger than part_size go up as a multipart upload of part_size
// parts; a failed part aborts the upload so no parts are left billed.
#include <chrono>
#include <functional>

#include "s3/object_store.h"
#include "s3/transport.h"

namespace hearth::s3 {

struct S3ClientOptions {
  std::string endpoint;  // "" = AWS; else http(s)://host[:port]
  std::string region = "us-east-1";
  std::string bucket;
  std::string prefix;  // "" or "a/b": keys are prefix + "/" + key
  Credentials creds;
  int max_tries = 5;
  std::chrono::milliseconds first_backoff{200};
  std::chrono::milliseconds max_backoff{30000};
  uint64_t part_size = 16u << 20;  // multipart above this; also the part size
  long connect_timeout_ms = 10000;
  long timeout_ms = 600000;
  Transport transport;                                   // empty: CurlTransport()
  std::function<void(std::chrono::milliseconds)> sleep;  // empty: sleeps
  std::function<time_t()> now;                           // empty: time()
};

class S3Client : public ObjectStore {
 public:
  // An error for a bad endpoint or bucket name.
  static Result<std::unique_ptr<S3Client>> Make(S3ClientOptions options);

  Status Put(std::string_view key, std::string_view bytes) override;
  Status PutFile(std::string_view key, const std::string& path) override;
  Result<std::string> Get(std::string_view key) override;
  Status GetToFile(std::string_view key, const std::string& path) override;
  Result<std::optional<ObjectInfo>> Head(std::string_view key) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  std::string Describe() const override;

  // Up to 1000 keys in one request (DeleteObjects); more is an error.
  Status DeleteObjects(const std::vector<std::string>& keys);

  enum class Op {
    kPutObject,
    kGetObject,
    kHeadObject,
    kDeleteObject,
    kDeleteObjects,
    kListObjectsV2,
    kCreateMultipartUpload,
    kUploadPart,
    kCompleteMultipartUpload,
    kAbortMultipartUpload,
  };

 private:
  explicit S3Client(S3ClientOptions options) : o_(std::move(options)) {}
  struct Body;
  std::string FullKey(std::string_view key) const;
  Result<HttpAnswer> Call(Op op, const std::string& full_key, Pairs query, const Body& body,
                          const std::string& save_to = "");
  Status PutBody(std::string_view key, const Body& body);
  Status Multipart(const std::string& full_key, const Body& body);

  S3ClientOptions o_;
  std::string scheme_host_;  // "http://127.0.0.1:9000" or "https://bucket.s3...."
  std::string host_;         // what Host carries (and is signed)
  bool path_style_ = true;
};

}  // namespace hearth::s3

#include "s3/client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>

#include "base/strings.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "s3/xml.h"

namespace hearth::s3 {

namespace {

using Op = S3Client::Op;

// The operations, as data: what each sends and which answers mean it worked.
// A fixed query pair (sub-resource) is part of the row; per-call pairs
// (partNumber, uploadId, continuation-token) come with the call.
struct OpSpec {
  Op op;
  const char* name;
  const char* method;
  const char* query_name;  // nullptr: none
  const char* query_value;
  bool bucket_level;            // the URL names the bucket, not an object
  std::array<long, 3> success;  // 0 = unused slot
};

constexpr OpSpec kOps[] = {
    {Op::kPutObject, "PutObject", "PUT", nullptr, nullptr, false, {200}},
    {Op::kGetObject, "GetObject", "GET", nullptr, nullptr, false, {200}},
    {Op::kHeadObject, "HeadObject", "HEAD", nullptr, nullptr, false, {200, 404}},
    {Op::kDeleteObject, "DeleteObject", "DELETE", nullptr, nullptr, false, {204, 200, 404}},
    {Op::kDeleteObjects, "DeleteObjects", "POST", "delete", "", true, {200}},
    {Op::kListObjectsV2, "ListObjectsV2", "GET", "list-type", "2", true, {200}},
    {Op::kCreateMultipartUpload, "CreateMultipartUpload", "POST", "uploads", "", false, {200}},
    {Op::kUploadPart, "UploadPart", "PUT", nullptr, nullptr, false, {200}},
    {Op::kCompleteMultipartUpload,
     "CompleteMultipartUpload",
     "POST",
     nullptr,
     nullptr,
     false,
     {200}},
    {Op::kAbortMultipartUpload,
     "AbortMultipartUpload",
     "DELETE",
     nullptr,
     nullptr,
     false,
     {204, 200, 404}},
};

const OpSpec& SpecOf(Op op) {
  for (const auto& s : kOps)
    if (s.op == op) return s;
  return kOps[0];  // unreachable: every Op has a row (s3_client_test enumerates them)
}

// Worth another try: the request may well work a moment later.
bool Retryable(long status, const std::string& code) {
  return status >= 500 || status == 429 || code == "SlowDown" || code == "RequestTimeout" ||
         code == "InternalError" || code == "ServiceUnavailable";
}

std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return s;
}

constexpr uint64_t kMaxParts = 10000;

}  // namespace

// A request body: bytes in memory, or a range of a file read as it is sent.
struct S3Client::Body {
  std::string_view bytes;
  std::string file;
  uint64_t offset = 0;
  uint64_t length = 0;
  static Body Bytes(std::string_view b) {
    Body body;
    body.bytes = b;
    return body;
  }
  uint64_t Size() const { return file.empty() ? bytes.size() : length; }
  Body Slice(uint64_t at, uint64_t n) const {
    Body b = *this;
    if (file.empty()) {
      b.bytes = bytes.substr(at, n);
    } else {
      b.offset = offset + at;
      b.length = n;
    }
    return b;
  }
};

Result<std::unique_ptr<S3Client>> S3Client::Make(S3ClientOptions options) {
  if (options.bucket.empty()) return Error{"no bucket given"};
  if (options.region.empty()) return Error{"no region given"};
  std::unique_ptr<S3Client> c(new S3Client(std::move(options)));
  S3ClientOptions& o = c->o_;
  if (!o.transport) o.transport = CurlTransport();
  if (!o.sleep) o.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  if (!o.now) o.now = [] { return time(nullptr); };
  if (o.max_tries < 1) o.max_tries = 1;
  if (o.part_size == 0) o.part_size = 16u << 20;
  if (o.endpoint.empty()) {
    // AWS: virtual-host addressing, except for dotted names (their
    // certificate would not match *.s3.amazonaws.com).
    c->path_style_ = o.bucket.find('.') != std::string::npos;
    c->host_ = (c->path_style_ ? "" : o.bucket + ".") + "s3." + o.region + ".amazonaws.com";
    c->scheme_host_ = "https://" + c->host_;
    return c;
  }
  std::string_view e = o.endpoint;
  size_t scheme_end = e.find("://");
  std::string scheme =
      scheme_end == std::string_view::npos ? "" : std::string(e.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https")
    return Error{"the S3 endpoint must be an http:// or https:// URL, not " + o.endpoint};
  std::string_view authority = e.substr(scheme_end + 3);
  while (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  if (authority.empty() || authority.find_first_of("/?#@ ") != std::string_view::npos)
    return Error{"the S3 endpoint must be scheme://host[:port] with no path, not " + o.endpoint};
  c->path_style_ = true;
  for (char ch : authority) c->host_.push_back(AsciiLower(ch));
  c->scheme_host_ = scheme + "://" + c->host_;
  return c;
}

std::string S3Client::Describe() const {
  return "s3://" + o_.bucket + (o_.prefix.empty() ? "" : "/" + o_.prefix);
}

std::string S3Client::FullKey(std::string_view key) const {
  return o_.prefix.empty() ? std::string(key) : o_.prefix + "/" + std::string(key);
}

Result<HttpAnswer> S3Client::Call(Op op, const std::string& full_key, Pairs query, const Body& body,
                                  const std::string& save_to) {
  const OpSpec& spec = SpecOf(op);
  std::string what = o_.bucket + (spec.bucket_level ? "" : "/" + full_key);
  if (spec.query_name) query.emplace_back(spec.query_name, spec.query_value);
  std::string path = path_style_ ? "/" + o_.bucket : "";
  if (!spec.bucket_level) path += "/" + full_key;
  if (path.empty()) path = "/";

  HttpCall call;
  call.method = spec.method;
  call.url = scheme_host_ + EncodePath(path) + (query.empty() ? "" : "?" + EncodeQuery(query));
  call.save_to = save_to;
  call.connect_timeout_ms = o_.connect_timeout_ms;
  call.timeout_ms = o_.timeout_ms;
  std::string payload_hash;
  if (body.file.empty()) {
    call.body = std::string(body.bytes);
    payload_hash = crypto::Sha256Hex(body.bytes);
  } else {
    call.body_file = body.file;
    call.body_offset = body.offset;
    call.body_length = body.length;
    if (scheme_host_.rfind("https://", 0) == 0) {
      payload_hash = "UNSIGNED-PAYLOAD";  // TLS guards the bytes; no second read
    } else {
      // Over plain http the signature must cover the bytes: hash the range first.
      int fd = open(body.file.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Error{"cannot read " + body.file + ": " + strerror(errno)};
      crypto::Sha256 sha;
      std::string buf(1 << 20, '\0');
      for (uint64_t done = 0; done < body.length;) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), body.length - done));
        ssize_t n = pread(fd, buf.data(), want, static_cast<off_t>(body.offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          close(fd);
          return Error{"cannot read " + body.file +
                       (n < 0 ? ": " + std::string(strerror(errno)) : ": the file got shorter")};
        }
        sha.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
        done += static_cast<uint64_t>(n);
      }
      close(fd);
      payload_hash = sha.HexDigest();
    }
  }
  Pairs headers{{"host", host_}};
  if (op == Op::kDeleteObjects)  // S3 refuses a multi-object delete without it
    headers.emplace_back("content-md5", crypto::Base64Encode(crypto::Md5Digest(body.bytes)));

  static thread_local std::mt19937_64 rng{std::random_device{}()};
  for (int attempt = 1;; ++attempt) {
    SignInput in{call.method, path, query, headers, payload_hash};
    std::string auth = SignS3(&in, o_.creds, o_.region, AmzDate(o_.now()));
    call.headers.clear();
    for (const auto& [name, value] : in.headers) call.headers.push_back(name + ": " + value);
    call.headers.push_back("Authorization: " + auth);

    auto answer = o_.transport(call);
    std::string failure;
    bool retry = true;
    if (!answer.ok()) {
      failure =
          "S3 " + std::string(spec.name) + " on " + what + " failed: " + answer.error().message;
    } else {
      long status = answer->status;
      bool ok = false;
      for (long s : spec.success) ok = ok || (s != 0 && s == status);
      std::optional<S3ErrorBody> err;
      // CompleteMultipartUpload can fail after its 200 has been sent: the
      // error then comes as the body.
      if (!ok || op == Op::kCompleteMultipartUpload) err = ParseErrorBody(answer->body);
      if (ok && !err) return answer;
      std::string code = err ? err->code : "";
      retry = Retryable(status, code);
      // No S3 error document (a HEAD, a proxy's page): the status alone.
      failure = "S3 refused " + std::string(spec.name) + " on " + what + ": " +
                (code.empty() ? "HTTP " + std::to_string(status)
                              : code + " (" + std::to_string(status) + ")") +
                (err && !err->message.empty() ? ": " + OneLine(err->message) : "");
    }
    if (!retry) return Error{failure};
    if (attempt >= o_.max_tries)
      return Error{failure + " (after " + std::to_string(attempt) + " tries)"};
    // 200 ms, 400 ms, 800 ms ... capped at 30 s, plus up to half again.
    auto base = o_.first_backoff * (int64_t{1} << std::min(attempt - 1, 20));
    if (base > o_.max_backoff) base = o_.max_backoff;
    auto jitter = std::chrono::milliseconds(
        base.count() > 1 ? static_cast<int64_t>(rng() % static_cast<uint64_t>(base.count() / 2 + 1))
                         : 0);
    o_.sleep(base + jitter);
  }
}

Status S3Client::PutBody(std::string_view key, const Body& body) {
  if (Status st = CheckKey(key); !st.ok()) return st;
  std::string full = FullKey(key);
  if (body.Size() > o_.part_size) return Multipart(full, body);
  auto answer = Call(Op::kPutObject, full, {}, body);
  if (!answer.ok()) return answer.error();
  return OkStatus();
}

Status S3Client::Multipart(const std::string& full_key, const Body& body) {
  uint64_t parts = (body.Size() + o_.part_size - 1) / o_.part_size;
  if (parts > kMaxParts)
    return Error{"an object of " + std::to_string(body.Size()) +
                 " bytes needs more than 10000 parts"};
  auto created = Call(Op::kCreateMultipartUpload, full_key, {}, Body{});
  if (!created.ok()) return created.error();
  auto upload_id = ParseUploadId(created->body);
  if (!upload_id.ok()) return upload_id.error();
  auto abort = [&](Error e) -> Status {
    // Best effort: a failed abort leaves parts that a bucket lifecycle rule
    // (or the next retention pass) removes; the first error is the one to report.
    (void)Call(Op::kAbortMultipartUpload, full_key, {{"uploadId", *upload_id}}, Body{});
    return e;
  };
  std::string complete = "<CompleteMultipartUpload>";
  for (uint64_t i = 0; i < parts; ++i) {
    uint64_t at = i * o_.part_size;
    Body part = body.Slice(at, std::min(o_.part_size, body.Size() - at));
    std::string number = std::to_string(i + 1);
    auto put =
        Call(Op::kUploadPart, full_key, {{"partNumber", number}, {"uploadId", *upload_id}}, part);
    if (!put.ok()) return abort(put.error());
    std::string etag = put->Header("etag");
    if (etag.empty())
      return abort(
          Error{"S3 UploadPart on " + o_.bucket + "/" + full_key + " answered without an ETag"});
    complete +=
        "<Part><PartNumber>" + number + "</PartNumber><ETag>" + XmlEscape(etag) + "</ETag></Part>";
  }
  complete += "</CompleteMultipartUpload>";
  auto done = Call(Op::kCompleteMultipartUpload, full_key, {{"uploadId", *upload_id}},
                   Body::Bytes(complete));
  if (!done.ok()) return abort(done.error());
  return OkStatus();
}

Status S3Client::Put(std::string_view key, std::string_view bytes) {
  return PutBody(key, Body::Bytes(bytes));
}

Status S3Client::PutFile(std::string_view key, const std::string& path) {
  struct stat sb {};
  if (stat(path.c_str(), &sb) != 0) return Error{"cannot read " + path + ": " + strerror(errno)};
  Body body;
  body.file = path;
  body.length = static_cast<uint64_t>(sb.st_size);
  return PutBody(key, body);
}

Result<std::string> S3Client::Get(std::string_view key) {
  if (Status st = CheckKey(key); !st.ok()) return st.error();
  auto answer = Call(Op::kGetObject, FullKey(key), {}, Body{});
  if (!answer.ok()) return answer.error();
  return std::move(answer->body);
}

Status S3Client::GetToFile(std::string_view key, const std::string& path) {
  if (Status st = CheckKey(key); !st.ok()) return st;
  // The object lands whole or not at all: into a temporary, renamed at the end.
  std::string tmp = path + ".hearth-tmp-" + crypto::RandomChars(8);
  auto answer = Call(Op::kGetObject, FullKey(key), {}, Body{}, tmp);
  if (answer.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = strerror(errno);
    unlink(tmp.c_str());
    return Error{"cannot rename onto " + path + ": " + why};
  }
  if (!answer.ok()) {
    unlink(tmp.c_str());
    return answer.error();
  }
  return OkStatus();
}

Result<std::optional<ObjectInfo>> S3Client::Head(std::string_view key) {
  if (Status st = CheckKey(key); !st.ok()) return st.error();
  auto answer = Call(Op::kHeadObject, FullKey(key), {}, Body{});
  if (!answer.ok()) return answer.error();
  if (answer->status == 404) return std::optional<ObjectInfo>();
  ObjectInfo info{std::string(key), 0, answer->Header("last-modified")};
  ParseUint(answer->Header("content-length"), &info.size);
  return std::optional<ObjectInfo>(std::move(info));
}

Result<std::vector<ObjectInfo>> S3Client::List(std::string_view prefix) {
  std::string root = o_.prefix.empty() ? "" : o_.prefix + "/";
  std::vector<ObjectInfo> out;
  std::string token;
  // Bounded: 100000 pages of 1000 keys is far beyond any backup's listing.
  for (int page = 0; page < 100000; ++page) {
    Pairs query{{"prefix", root + std::string(prefix)}};
    if (!token.empty()) query.emplace_back("continuation-token", token);
    auto answer = Call(Op::kListObjectsV2, "", query, Body{});
    if (!answer.ok()) return answer.error();
    auto parsed = ParseListPage(answer->body);
    if (!parsed.ok()) return parsed.error();
    for (auto& o : parsed->objects) {
      if (o.key.compare(0, root.size(), root) != 0) continue;
      out.push_back({o.key.substr(root.size()), o.size, o.last_modified});
    }
    if (!parsed->truncated) return out;
    if (parsed->next_token == token)
      return Error{"S3 ListObjectsV2 repeated its continuation token"};
    token = parsed->next_token;
  }
  return Error{"S3 ListObjectsV2 on " + o_.bucket + " never ended (100000 pages)"};
}

Status S3Client::Delete(std::string_view key) {
  if (Status st = CheckKey(key); !st.ok()) return st;
  auto answer = Call(Op::kDeleteObject, FullKey(key), {}, Body{});
  if (!answer.ok()) return answer.error();
  return OkStatus();
}

Status S3Client::DeleteObjects(const std::vector<std::string>& keys) {
  if (keys.empty()) return OkStatus();
  if (keys.size() > 1000) return Error{"DeleteObjects takes at most 1000 keys"};
  std::string xml = "<Delete><Quiet>true</Quiet>";
  for (const auto& k : keys) {
    if (Status st = CheckKey(k); !st.ok()) return st;
    xml += "<Object><Key>" + XmlEscape(FullKey(k)) + "</Key></Object>";
  }
  xml += "</Delete>";
  auto answer = Call(Op::kDeleteObjects, "", {}, Body::Bytes(xml));
  if (!answer.ok()) return answer.error();
  auto failures = ParseDeleteResult(answer->body);
  if (!failures.ok()) return failures.error();
  if (!failures->empty()) {
    const auto& f = failures->front();
    return Error{"S3 refused DeleteObjects of " + o_.bucket + "/" + f.key + ": " + f.code + ": " +
                 OneLine(f.message) + " (" + std::to_string(failures->size()) + " keys failed)"};
  }
  return OkStatus();
}

}  // namespace hearth::s3

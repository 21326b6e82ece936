// Blob uploads, streamed: the body is hashed and spooled as it arrives (to an
// unnamed temporary file past 256 KiB) and written into SQLite piece by piece,
// so an upload of any size holds a bounded amount of memory on the worker.
#include <nlohmann/json.hpp>

#include "crypto/hash.h"
#include "io/spool.h"
#include "sites/api_common.h"
#include "sites/compress.h"
#include "sites/manifest.h"

namespace hearth::sites {
namespace {

using nlohmann::json;

// Writes the blob (and its variants) on the writer thread, answering `reply`.
void StoreBlob(SitesShared* shared, std::shared_ptr<Reply> reply, std::string hash,
               std::shared_ptr<Spool> spool, std::vector<Variant> variants) {
  auto v = std::make_shared<std::vector<Variant>>(std::move(variants));
  SubmitWrite(
      shared, std::move(reply),
      [hash, spool, v](store::Connection& c, Outcome* o) -> Status {
        uint64_t size = spool->size();
        // A blob already stored is the same bytes (it is named by them).
        auto put = c.PutBlob(hash, size, [&](uint64_t off, char* buf, size_t n) {
          return spool->ReadAt(off, buf, n);
        });
        if (!put.ok()) return put.error();
        json encodings = json::array();
        for (const auto& var : *v) {
          auto stored = c.PutBlobVariant(hash, EncodingName(var.encoding), var.data);
          if (!stored.ok()) return stored.error();
          encodings.push_back(EncodingName(var.encoding));
        }
        o->status = 201;
        o->body = {{"hash", hash}, {"size", size}, {"encodings", encodings}};
        return OkStatus();
      },
      false);
}

class BlobUpload : public BodySink {
 public:
  BlobUpload(SitesShared* shared, std::shared_ptr<Reply> reply, std::string hash, bool compressible)
      : shared_(shared),
        reply_(std::move(reply)),
        hash_(std::move(hash)),
        compressible_(compressible),
        spool_(std::make_shared<Spool>(shared->spool_dir)) {}

  size_t OnData(std::string_view bytes) override {
    if (failed_) return bytes.size();
    if (spool_->size() + bytes.size() > shared_->max_blob_size) {
      // A chunked body has no declared length: the limit is found on the way.
      return Refuse(413, "blob over the size limit"), bytes.size();
    }
    hash_state_.Update(bytes);
    if (Status st = spool_->Append(bytes); !st.ok())
      return Refuse(507, st.error().message), bytes.size();
    return bytes.size();
  }

  void OnEnd(bool ok) override {
    if (!ok || failed_) return;  // the connection is gone or already answered
    if (hash_state_.HexDigest() != hash_)
      return Refuse(400, "the bytes do not match their hash " + hash_);
    if (!compressible_) return StoreBlob(shared_, reply_, hash_, spool_, {});
    // Variants are made on the background thread so that no worker waits for
    // brotli; the blob and its variants then commit together.
    shared_->background.Post([shared = shared_, reply = reply_, hash = hash_, spool = spool_] {
      auto data = spool->ReadAll();
      if (!data.ok()) {
        reply->Finish([e = data.error().message](Response& r) { Fail(r, 500, e); });
        return;
      }
      std::vector<Variant> variants = Compress(*data);
      *data = std::string();
      StoreBlob(shared, reply, hash, spool, std::move(variants));
    });
  }

 private:
  void Refuse(int status, std::string message) {
    failed_ = true;
    reply_->Finish(
        [status, message = std::move(message)](Response& r) { Fail(r, status, message); });
  }

  SitesShared* shared_;
  std::shared_ptr<Reply> reply_;
  std::string hash_;
  bool compressible_;
  std::shared_ptr<Spool> spool_;
  crypto::Sha256 hash_state_;
  bool failed_ = false;
};

}  // namespace

void PutBlob(SitesShared* shared, store::Connection& rd, Request& req, Response& res,
             const std::string& hash) {
  if (!crypto::IsSha256Hex(hash))
    return Fail(res, 400, "a blob is named by its lower-case hex SHA-256");
  if (req.framing == BodyFraming::kLength && req.content_length > shared->max_blob_size)
    return Fail(res, 413, "blob over the size limit");
  // The manifest that asked for this blob names its path: text files get
  // compressed variants.
  std::string path;
  {
    store::Statement st = rd.Named("files.path_for_hash");
    st.Bind(1, hash);
    Status s = OkStatus();
    if (st.Step(&s)) path = std::string(st.Text(0));
  }
  auto reply = res.Defer();
  auto upload = std::make_shared<BlobUpload>(shared, reply, hash, Compressible(path));
  if (req.body_pending) {
    req.body_sink = upload;
    return;
  }
  // No body (or one read whole, on a route that does not stream): one piece.
  upload->OnData(req.body);
  upload->OnEnd(true);
}

}  // namespace hearth::sites

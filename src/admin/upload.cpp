// Deploying a folder from the browser: the console takes the folder as one
// multipart form, then runs the same three steps as `hearth deploy` through
// the control API (the manifest, the blobs the server lacks, the publish)
// and streams its progress into the page as it goes, so a page with no
// JavaScript shows each step and the result.
//
// The steps run on the connection's own thread: each starts from the
// response stream's pull; a step the API answers later (a write) records its
// answer and wakes the stream, whose next pull goes on.
#include "admin/upload.h"

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "admin/html.h"
#include "admin/loopback.h"
#include "base/strings.h"
#include "crypto/hash.h"
#include "http/multipart.h"
#include "io/spool.h"

namespace hearth::admin {

using nlohmann::json;

void UploadForm(PageContext& ctx, const std::string& site) {
  std::string h =
      "<p><a href=\"/_hearth/sites/" + UrlEncode(site) + "\">" + Escape(site) +
      "</a></p><h1>Deploy a folder to " + Escape(site) +
      "</h1><form method=\"post\" enctype=\"multipart/form-data\" action=\"/_hearth/upload/" +
      UrlEncode(site) + "\" class=\"card\"><input type=\"hidden\" name=\"csrf\" value=\"" +
      Escape(ctx.session.csrf) +
      "\"><label for=\"files\">Folder</label><input id=\"files\" name=\"files\" type=\"file\" "
      "webkitdirectory multiple required aria-describedby=\"files-hint\"><p class=\"hint\" "
      "id=\"files-hint\">Everything "
      "in the folder becomes the new version (its index.html at the site's root). Files the server "
      "has already are "
      "not stored twice.</p><label for=\"message\">Message "
      "<span class=\"muted\">(optional)</span></label><input id=\"message\" name=\"message\" "
      "type=\"text\" maxlength=\"200\">"
      "<p><button type=\"submit\">Deploy</button></p></form>";
  Html(*ctx.res, 200, RenderPage(Page("Deploy · " + site, "sites", ctx.session.csrf), h));
}

std::vector<UploadFile> FolderFiles(std::vector<UploadFile> parts, std::string* error) {
  // A folder input names each file "folder/sub/file": the folder itself is
  // not part of the site's paths.
  std::string top;
  bool common = !parts.empty();
  for (const auto& p : parts) {
    if (p.path.empty()) continue;  // dropped below
    size_t slash = p.path.find('/');
    std::string first = slash == std::string::npos ? "" : p.path.substr(0, slash);
    if (first.empty() || (!top.empty() && first != top)) common = false;
    if (top.empty()) top = first;
  }
  std::vector<UploadFile> out;
  for (auto& p : parts) {
    if (p.path.empty()) continue;  // a browser's empty part for "no file chosen"
    if (common) p.path = p.path.substr(top.size() + 1);
    if (p.path.empty()) continue;
    out.push_back(std::move(p));
  }
  if (out.empty()) *error = "Choose a folder with at least one file.";
  return out;
}

namespace {

class Deploy : public std::enable_shared_from_this<Deploy> {
 public:
  Deploy(const Handler* api, std::string site, std::string message, std::vector<UploadFile> files,
         std::shared_ptr<const Spool> spool, std::string csrf)
      : api_(api),
        site_(std::move(site)),
        message_(std::move(message)),
        files_(std::move(files)),
        spool_(std::move(spool)),
        csrf_(std::move(csrf)) {}

  void SetWake(std::function<void()> wake) { wake_ = std::move(wake); }

  // The response stream's pull, on the connection's thread.
  bool Pull(std::string& out) {
    if (!started_) {
      started_ = true;
      std::string page = RenderPage(Page("Deploying · " + site_, "sites", csrf_), "\x01");
      size_t cut = page.find('\x01');
      head_tail_ = page.substr(cut + 1);
      out += page.substr(0, cut);
      out += "<h1>Deploying to " + Escape(site_) + "</h1><ol class=\"steps\" aria-live=\"polite\">";
    }
    for (int guard = 0; guard < 1000; ++guard) {
      if (ended_) return false;
      if (feeding_) {
        // A blob's bytes go to the API a slice per pull: the worker serves
        // its other connections in between (the wake asks for the next pull).
        if (!feeding_->Feed(kFeedPerPull)) {
          if (wake_) wake_();
          return true;
        }
        feeding_.reset();
      }
      if (in_flight_) {
        int status;
        json body;
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (!answered_) return true;  // wait for the API's answer (its wake)
          answered_ = false;
          status = status_;
          body = std::move(body_);
        }
        in_flight_ = false;
        Handle(status, body, out);
        continue;
      }
      Next(out);
    }
    return true;
  }

 private:
  // Where an API answer goes: recorded, and the page's stream woken.
  std::function<void(int, json)> Answer() {
    in_flight_ = true;
    std::weak_ptr<Deploy> weak = shared_from_this();
    return [weak](int status, json answer) {
      auto self = weak.lock();
      if (!self) return;  // the page was closed
      {
        std::lock_guard<std::mutex> lock(self->mu_);
        self->status_ = status;
        self->body_ = std::move(answer);
        self->answered_ = true;
      }
      if (self->wake_) self->wake_();
    };
  }

  void Call(Method m, const std::string& path, std::string body) {
    CallApiAsync(*api_, m, path, std::move(body), Answer());
  }

  void Next(std::string& out) {
    switch (step_) {
      case Step::kManifest: {
        json files = json::array();
        uint64_t bytes = 0;
        for (const auto& f : files_) {
          files.push_back({{"path", f.path}, {"hash", f.hash}, {"size", f.size}});
          bytes += f.size;
        }
        out += "<li>Sending the list of " + std::to_string(files_.size()) + " files (" +
               std::to_string(bytes) + " bytes).</li>";
        Call(Method::kPost, "/_hearth/api/sites/" + UrlEncode(site_) + "/deploys",
             json{{"files", files}, {"message", message_}}.dump());
        return;
      }
      case Step::kBlobs:
        if (next_ < missing_.size()) {
          const std::string& hash = missing_[next_];
          for (const auto& f : files_)
            if (f.hash == hash) {
              feeding_ = CallApiSpooled(*api_, Method::kPut, "/_hearth/api/blobs/" + hash, spool_,
                                        f.offset, f.size, Answer());
              return;
            }
          return Fail(out, "a file the server asked for is not in the upload");
        }
        step_ = Step::kPublish;
        out += "<li>Publishing version " + std::to_string(version_) + ".</li>";
        return Call(Method::kPost, "/_hearth/api/deploys/" + std::to_string(version_) + "/publish",
                    "{}");
      case Step::kPublish:
      case Step::kDone:
        End(out);
        return;
    }
  }

  void Handle(int status, const json& body, std::string& out) {
    if (status / 100 != 2) return Fail(out, ApiError(status, body));
    switch (step_) {
      case Step::kManifest:
        version_ = body.value("version", int64_t{0});
        for (const auto& h : body.value("missing", json::array()))
          if (h.is_string()) missing_.push_back(h.get<std::string>());
        out += "<li>Version " + std::to_string(version_) + " made; " +
               std::to_string(missing_.size()) + " of " + std::to_string(files_.size()) +
               " files are new to the server.</li>";
        step_ = Step::kBlobs;
        return;
      case Step::kBlobs:
        ++next_;
        if (next_ == missing_.size() || next_ % 25 == 0)
          out += "<li>Uploaded " + std::to_string(next_) + " of " +
                 std::to_string(missing_.size()) + " files.</li>";
        return;
      case Step::kPublish:
        out += "</ol><p class=\"flash\" role=\"status\">Version " + std::to_string(version_) +
               " of " + Escape(site_) + " is live.</p>";
        step_ = Step::kDone;
        closed_list_ = true;
        succeeded_ = true;
        return;
      case Step::kDone:
        return;
    }
  }

  void Fail(std::string& out, const std::string& why) {
    out += "</ol><p class=\"flash error\" role=\"alert\">Not deployed: " + Escape(why) +
           " The version that was live is still live.</p>";
    closed_list_ = true;
    step_ = Step::kDone;
  }

  void End(std::string& out) {
    if (!closed_list_) out += "</ol>";
    out += "<p><a href=\"/_hearth/sites/" + UrlEncode(site_) +
           (succeeded_ ? "?deployed=" + std::to_string(version_) : std::string()) + "\">Back to " +
           Escape(site_) + "</a></p>";
    out += head_tail_;
    ended_ = true;
  }

  enum class Step { kManifest, kBlobs, kPublish, kDone };
  const Handler* api_;
  std::string site_, message_;
  std::vector<UploadFile> files_;
  std::shared_ptr<const Spool> spool_;    // the files' bytes
  std::shared_ptr<SpooledCall> feeding_;  // the blob being sent, if its body is not all fed yet
  static constexpr size_t kFeedPerPull = 1 << 20;
  std::string csrf_;
  std::function<void()> wake_;
  // The connection's thread only:
  Step step_ = Step::kManifest;
  bool started_ = false, in_flight_ = false, ended_ = false, closed_list_ = false,
       succeeded_ = false;
  std::string head_tail_;
  std::vector<std::string> missing_;
  size_t next_ = 0;
  int64_t version_ = 0;
  // The last API answer, from whichever thread finished it:
  std::mutex mu_;
  bool answered_ = false;
  int status_ = 0;
  json body_;
};

// Takes the posted folder as it arrives: each file's bytes go to the
// upload's spool and its hash, none is held whole. The CSRF token must come
// first (the form puts it first), so nothing is taken from a post that is
// not the console's own.
class FolderSink : public BodySink {
 public:
  FolderSink(PageContext ctx, std::string site, std::string boundary, std::shared_ptr<Reply> reply,
             std::function<void()> wake)
      : ctx_(std::move(ctx)),
        site_(std::move(site)),
        events_(this),
        reader_(boundary, &events_,
                ctx_.shared->max_files + 8),  // the files, the token, the message
        reply_(std::move(reply)),
        wake_(std::move(wake)),
        spool_(std::make_shared<Spool>(ctx_.shared->spool_dir)) {}

  size_t OnData(std::string_view bytes) override {
    if (failed_) return bytes.size();
    if (Status st = reader_.Feed(bytes); !st.ok())
      Refuse(refusal_ ? refusal_ : 400, st.error().message);
    return bytes.size();
  }

  void OnEnd(bool ok) override {
    if (!ok || failed_) return;  // the connection is gone, or it was answered
    if (Status st = reader_.Finish(); !st.ok())
      return Refuse(400, "The upload could not be read: " + st.error().message);
    if (!csrf_ok_) return Refuse(403, kStale);
    // The session may have ended while the folder arrived.
    if (!SessionLive(ctx_.shared->store->Reader(ctx_.reader), ctx_.session.hash))
      return Refuse(401, "Your session ended during the upload. Log in again.");
    std::string error;
    std::vector<UploadFile> files = FolderFiles(std::move(files_), &error);
    if (!error.empty()) return Refuse(400, error);
    auto job = std::make_shared<Deploy>(ctx_.api, site_, message_, std::move(files), spool_,
                                        ctx_.session.csrf);
    job->SetWake(wake_);
    reply_->Finish([job](Response& res) {
      res.status = 200;
      res.SetHeader("Content-Type", "text/html; charset=utf-8");
      Harden(res);
      res.body_kind = Response::BodyKind::kStream;
      res.stream = [job](std::string& out) { return job->Pull(out); };
    });
  }

  Status Part(const FormPart& head) {
    if (parts_++ == 0 && head.name != "csrf") return Refused(403, kStale);
    field_ = head.name;
    in_file_ = !head.filename.empty();
    text_.clear();
    if (!in_file_) return OkStatus();
    if (!csrf_ok_) return Refused(403, kStale);
    if (!IsValidUtf8(head.filename))
      return Refused(400, "A file's name is not UTF-8: rename it and try again.");
    if (files_.size() >= ctx_.shared->max_files)
      return Refused(413, "More than " + std::to_string(ctx_.shared->max_files) +
                              " files: deploy this one with hearth deploy.");
    files_.push_back(UploadFile{head.filename, "", spool_->size(), 0});
    hash_ = std::make_unique<crypto::Sha256>();
    return OkStatus();
  }

  Status Bytes(std::string_view bytes) {
    if (!in_file_) {
      if (text_.size() + bytes.size() > 4096)
        return Refused(400, "The form's field " + field_ + " is too long.");
      text_.append(bytes);
      return OkStatus();
    }
    UploadFile& f = files_.back();
    if (f.size + bytes.size() > ctx_.shared->max_blob_size)
      return Refused(413, f.path + " is larger than the server takes for one file.");
    hash_->Update(bytes);
    if (Status st = spool_->Append(bytes); !st.ok())
      return Refused(507, "The upload could not be stored: " + st.error().message);
    f.size += bytes.size();
    return OkStatus();
  }

  Status PartEnd() {
    if (in_file_) {
      files_.back().hash = hash_->HexDigest();
      hash_.reset();
    } else if (field_ == "csrf") {
      if (!SameSecret(text_, ctx_.session.csrf)) return Refused(403, kStale);
      csrf_ok_ = true;
    } else if (field_ == "message") {
      if (!IsValidUtf8(text_)) return Refused(400, "The message is not UTF-8.");
      message_ = text_;
    }
    in_file_ = false;
    return OkStatus();
  }

 private:
  static constexpr const char* kStale =
      "This form is stale or did not come from this console (no valid CSRF token). Reload the page "
      "and try again.";

  // An event's refusal: the reader stops, and OnData answers with `status`.
  Status Refused(int status, std::string why) {
    refusal_ = status;
    return Error{std::move(why)};
  }

  void Refuse(int status, const std::string& why) {
    failed_ = true;
    std::string site = site_, csrf = ctx_.session.csrf;
    reply_->Finish([status, why, site, csrf](Response& r) {
      Html(r, status,
           RenderPage(Page("Deploy · " + site, "sites", csrf, "Not deployed: " + why, true),
                      "<h1>Deploy a folder to " + Escape(site) +
                          "</h1><p><a href=\"/_hearth/sites/" + UrlEncode(site) +
                          "/upload\">Try again</a></p>"));
    });
  }

  // The reader's events, passed to the sink's own methods.
  struct Events : MultipartReader::Events {
    explicit Events(FolderSink* sink) : sink(sink) {}
    Status OnPart(const FormPart& head) override { return sink->Part(head); }
    Status OnData(std::string_view bytes) override { return sink->Bytes(bytes); }
    Status OnPartEnd() override { return sink->PartEnd(); }
    FolderSink* sink;
  };

  PageContext ctx_;
  std::string site_;
  Events events_;
  MultipartReader reader_;
  std::shared_ptr<Reply> reply_;
  std::function<void()> wake_;
  std::shared_ptr<Spool> spool_;
  std::vector<UploadFile> files_;
  std::unique_ptr<crypto::Sha256> hash_;
  std::string field_, text_, message_;
  size_t parts_ = 0;
  int refusal_ = 0;
  bool in_file_ = false, csrf_ok_ = false, failed_ = false;
};

}  // namespace

void StreamFolderUpload(PageContext& ctx, const std::string& site) {
  Request& req = *ctx.req;
  Response& res = *ctx.res;
  auto boundary = MultipartBoundary(req.Header("content-type"));
  if (!boundary.ok())
    return Html(res, 400,
                RenderPage(Page("Deploy · " + site, "sites", ctx.session.csrf,
                                "Not deployed: the upload is not multipart/form-data.", true),
                           "<h1>Deploy a folder to " + Escape(site) + "</h1>"));
  std::function<void()> wake = res.MakeWaker();
  auto reply = res.Defer();
  if (!wake || !reply) return res.SetError(500);
  std::string_view body = req.body;
  bool pending = req.body_pending;
  auto sink = std::make_shared<FolderSink>(ctx, site, *boundary, reply, std::move(wake));
  if (pending) {
    req.body_sink = sink;
    return;
  }
  // A body read whole (a route that does not stream): one piece.
  sink->OnData(body);
  sink->OnEnd(true);
}

}  // namespace hearth::admin

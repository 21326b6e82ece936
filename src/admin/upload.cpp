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
#include "sites/manifest.h"

namespace hearth::admin {

using nlohmann::json;

void UploadForm(PageContext& ctx, const std::string& site) {
  std::string h =
      "<p><a href=\"/_hearth/sites/" + UrlEncode(site) + "\">" + Escape(site) + "</a></p><h1>Deploy a folder to " +
      Escape(site) + "</h1><form method=\"post\" enctype=\"multipart/form-data\" action=\"/_hearth/sites/" +
      UrlEncode(site) + "/upload\" class=\"card\"><input type=\"hidden\" name=\"csrf\" value=\"" +
      Escape(ctx.session.csrf) + "\"><label for=\"files\">Folder</label><input id=\"files\" name=\"files\" type=\"file\" "
      "webkitdirectory multiple required aria-describedby=\"files-hint\"><p class=\"hint\" id=\"files-hint\">Everything "
      "in the folder becomes the new version (its index.html at the site's root). The whole upload may be as large as "
      "the server's --max-body-size; for larger sites use <code>hearth deploy</code>.</p><label for=\"message\">Message "
      "<span class=\"muted\">(optional)</span></label><input id=\"message\" name=\"message\" type=\"text\" maxlength=\"200\">"
      "<p><button type=\"submit\">Deploy</button></p></form>";
  Html(*ctx.res, 200, RenderPage(Page("Deploy · " + site, "sites", ctx.session.csrf), h));
}

std::vector<UploadFile> FolderFiles(const std::vector<UploadFile>& parts, std::string* error) {
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
  for (const auto& p : parts) {
    if (p.path.empty()) continue;  // a browser's empty part for "no file chosen"
    UploadFile f = p;
    if (common) f.path = p.path.substr(top.size() + 1);
    if (f.path.empty()) continue;
    out.push_back(std::move(f));
  }
  if (out.empty()) *error = "Choose a folder with at least one file.";
  return out;
}

namespace {

class Deploy : public std::enable_shared_from_this<Deploy> {
 public:
  Deploy(const Handler* api, std::string site, std::string message, std::vector<UploadFile> files, std::string csrf)
      : api_(api), site_(std::move(site)), message_(std::move(message)), files_(std::move(files)), csrf_(std::move(csrf)) {}

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
  void Call(Method m, const std::string& path, std::string body) {
    in_flight_ = true;
    std::weak_ptr<Deploy> weak = shared_from_this();
    CallApiAsync(*api_, m, path, std::move(body), [weak](int status, json answer) {
      auto self = weak.lock();
      if (!self) return;  // the page was closed
      {
        std::lock_guard<std::mutex> lock(self->mu_);
        self->status_ = status;
        self->body_ = std::move(answer);
        self->answered_ = true;
      }
      if (self->wake_) self->wake_();
    });
  }

  void Next(std::string& out) {
    switch (step_) {
      case Step::kManifest: {
        json files = json::array();
        uint64_t bytes = 0;
        for (const auto& f : files_) {
          files.push_back({{"path", f.path}, {"hash", f.hash}, {"size", f.data.size()}});
          bytes += f.data.size();
        }
        out += "<li>Sending the list of " + std::to_string(files_.size()) + " files (" + std::to_string(bytes) +
               " bytes).</li>";
        Call(Method::kPost, "/_hearth/api/sites/" + UrlEncode(site_) + "/deploys",
             json{{"files", files}, {"message", message_}}.dump());
        return;
      }
      case Step::kBlobs:
        if (next_ < missing_.size()) {
          const std::string& hash = missing_[next_];
          for (const auto& f : files_)
            if (f.hash == hash) return Call(Method::kPut, "/_hearth/api/blobs/" + hash, f.data);
          return Fail(out, "a file the server asked for is not in the upload");
        }
        step_ = Step::kPublish;
        out += "<li>Publishing version " + std::to_string(version_) + ".</li>";
        return Call(Method::kPost, "/_hearth/api/deploys/" + std::to_string(version_) + "/publish", "{}");
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
        out += "<li>Version " + std::to_string(version_) + " made; " + std::to_string(missing_.size()) + " of " +
               std::to_string(files_.size()) + " files are new to the server.</li>";
        step_ = Step::kBlobs;
        return;
      case Step::kBlobs:
        ++next_;
        if (next_ == missing_.size() || next_ % 25 == 0)
          out += "<li>Uploaded " + std::to_string(next_) + " of " + std::to_string(missing_.size()) + " files.</li>";
        return;
      case Step::kPublish:
        out += "</ol><p class=\"flash\" role=\"status\">Version " + std::to_string(version_) + " of " + Escape(site_) +
               " is live.</p>";
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
    out += "<p><a href=\"/_hearth/sites/" + UrlEncode(site_) + (succeeded_ ? "?deployed=" + std::to_string(version_) : std::string()) +
           "\">Back to " + Escape(site_) + "</a></p>";
    out += head_tail_;
    ended_ = true;
  }

  enum class Step { kManifest, kBlobs, kPublish, kDone };
  const Handler* api_;
  std::string site_, message_;
  std::vector<UploadFile> files_;
  std::string csrf_;
  std::function<void()> wake_;
  // The connection's thread only:
  Step step_ = Step::kManifest;
  bool started_ = false, in_flight_ = false, ended_ = false, closed_list_ = false, succeeded_ = false;
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

}  // namespace

void UploadFolder(PageContext& ctx, const std::string& site, const std::string& message, std::vector<UploadFile> files) {
  std::string error;
  files = FolderFiles(files, &error);
  if (!error.empty()) {
    Html(*ctx.res, 400, RenderPage(Page("Deploy · " + site, "sites", ctx.session.csrf, error, true),
                                   "<h1>Deploy a folder to " + Escape(site) + "</h1><p><a href=\"/_hearth/sites/" +
                                       UrlEncode(site) + "/upload\">Try again</a></p>"));
    return;
  }
  for (auto& f : files) f.hash = sites::Sha256Hex(f.data);
  auto job = std::make_shared<Deploy>(ctx.api, site, message, std::move(files), ctx.session.csrf);
  std::function<void()> wake = ctx.res->MakeWaker();
  if (!wake) return ctx.res->SetError(500);
  job->SetWake(std::move(wake));
  Response& res = *ctx.res;
  res.status = 200;
  res.SetHeader("Content-Type", "text/html; charset=utf-8");
  Harden(res);
  res.body_kind = Response::BodyKind::kStream;
  res.stream = [job](std::string& out) { return job->Pull(out); };
}

}  // namespace hearth::admin

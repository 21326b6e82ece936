#include "admin/loopback.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <utility>

namespace hearth::admin {
namespace {

nlohmann::json ParseBody(const Response& r) {
  if (r.body_kind != Response::BodyKind::kText || r.text.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(r.text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

// The API's deferred answer, passed on to the page's own deferred answer.
class Chain : public Reply {
 public:
  Chain(std::shared_ptr<Reply> page, ApiThen then)
      : page_(std::move(page)), then_(std::move(then)) {}
  void Finish(std::function<void(Response&)> fill) override {
    page_->Finish([fill = std::move(fill), then = std::move(then_)](Response& out) {
      Response api;
      fill(api);
      then(api.status, ParseBody(api), out);
    });
  }
  void Wake() override { page_->Wake(); }

 private:
  std::shared_ptr<Reply> page_;
  ApiThen then_;
};

// The API's deferred answer, handed to `done` where it finishes (its fill
// only builds a Response from values it captured).
class Capture : public Reply {
 public:
  explicit Capture(std::function<void(int, nlohmann::json)> done) : done_(std::move(done)) {}
  void Finish(std::function<void(Response&)> fill) override {
    Response r;
    fill(r);
    answered_ = true;
    if (done_) std::exchange(done_, nullptr)(r.status, ParseBody(r));
  }
  void Wake() override {}
  // Whether the handler has answered (then the rest of a body is not wanted).
  bool answered() const { return answered_; }

 private:
  std::function<void(int, nlohmann::json)> done_;
  std::atomic<bool> answered_{false};
};

// `content_type` must outlive the request (headers are views).
Request MakeRequest(Method method, const std::string& path, const std::string& body,
                    std::string_view content_type = "application/json") {
  static const char* kNames[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"};
  Request req;
  req.method = method;
  req.method_text = static_cast<int>(method) < 6 ? kNames[static_cast<int>(method)] : "GET";
  req.target = path;
  size_t q = path.find('?');
  req.path = std::string_view(path).substr(0, q);
  req.query = q == std::string::npos ? std::string_view() : std::string_view(path).substr(q + 1);
  req.body = body;
  req.content_length = body.size();
  req.framing = body.empty() ? BodyFraming::kNone : BodyFraming::kLength;
  if (!body.empty()) req.headers.push_back({"content-type", content_type});
  return req;
}

}  // namespace

void CallApiAsync(const Handler& api, Method method, const std::string& path, std::string body,
                  std::function<void(int, nlohmann::json)> done) {
  Request req = MakeRequest(method, path, std::string());
  req.body = std::move(body);
  req.content_length = req.body.size();
  req.framing = req.body.empty() ? BodyFraming::kNone : BodyFraming::kLength;
  if (!req.body.empty() && method != Method::kPut)
    req.headers.push_back({"content-type", "application/json"});
  auto capture = std::make_shared<Capture>(std::move(done));
  Response res;
  ReplyFactory factory = [capture](uint64_t) -> std::shared_ptr<Reply> { return capture; };
  res.reply_factory_ = &factory;
  api(req, res);
  if (!res.deferred()) capture->Finish([&res](Response& out) { out = std::move(res); });
}

namespace {

class Spooled : public SpooledCall {
 public:
  Spooled(std::shared_ptr<Capture> capture, std::shared_ptr<BodySink> sink,
          std::shared_ptr<const Spool> spool, uint64_t offset, uint64_t size)
      : capture_(std::move(capture)),
        sink_(std::move(sink)),
        spool_(std::move(spool)),
        offset_(offset),
        size_(size) {}

  bool Feed(size_t budget) override {
    if (!sink_) return true;
    if (capture_
            ->answered()) {  // refused part way (over a limit, out of disk): the rest is not read
      std::exchange(sink_, nullptr)->OnEnd(false);
      return true;
    }
    constexpr uint64_t kPiece = 64 * 1024;
    if (buf_.empty())
      buf_.resize(static_cast<size_t>(std::min(kPiece, std::max<uint64_t>(size_, 1))));
    size_t fed = 0;
    while (at_ < size_ && fed < budget) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf_.size(), size_ - at_));
      if (Status st = spool_->ReadAt(offset_ + at_, buf_.data(), n); !st.ok())
        return Fail("cannot read the upload back: " + st.error().message);
      size_t took = sink_->OnData(std::string_view(buf_.data(), n));
      if (took == 0)
        return Fail("the API did not take the body");  // a pause this caller cannot wait for
      at_ += took;
      fed += took;
      if (capture_->answered()) break;
    }
    if (capture_->answered() && at_ < size_) {
      std::exchange(sink_, nullptr)->OnEnd(false);
      return true;
    }
    if (at_ < size_) return false;
    std::exchange(sink_, nullptr)->OnEnd(true);
    return true;
  }

  void Finish(const std::string& why) { Fail(why); }

 private:
  bool Fail(const std::string& why) {
    if (sink_) std::exchange(sink_, nullptr)->OnEnd(false);
    capture_->Finish([why](Response& out) {
      out.SetText(500, "application/json", nlohmann::json{{"error", why}}.dump());
    });
    return true;
  }

  std::shared_ptr<Capture> capture_;
  std::shared_ptr<BodySink> sink_;
  std::shared_ptr<const Spool> spool_;
  uint64_t offset_, size_, at_ = 0;
  std::string buf_;
};

}  // namespace

std::shared_ptr<SpooledCall> CallApiSpooled(const Handler& api, Method method,
                                            const std::string& path,
                                            std::shared_ptr<const Spool> spool, uint64_t offset,
                                            uint64_t size,
                                            std::function<void(int, nlohmann::json)> done) {
  Request req = MakeRequest(method, path, std::string());
  req.content_length = size;
  req.framing = BodyFraming::kLength;
  req.body_pending = size > 0;
  auto capture = std::make_shared<Capture>(std::move(done));
  Response res;
  ReplyFactory factory = [capture](uint64_t) -> std::shared_ptr<Reply> { return capture; };
  res.reply_factory_ = &factory;
  api(req, res);
  auto call = std::make_shared<Spooled>(capture, req.body_sink, std::move(spool), offset, size);
  if (!req.body_sink && req.body_pending && res.deferred())
    call->Finish("the API did not take the body");
  if (!res.deferred()) capture->Finish([&res](Response& out) { out = std::move(res); });
  return call;
}

void CallApi(const Handler& api, Method method, const std::string& path, const std::string& body,
             Response& page, ApiThen then, const std::string& content_type) {
  Request req = MakeRequest(method, path, body, content_type);
  Response res;
  res.connection_id_ = page.connection_id_;
  ApiThen pending = then;
  bool stranded = false;
  // A deferring API defers the page too; its answer comes through Chain.
  // A page that cannot wait (one being filled from an earlier deferred
  // answer) gets 500 rather than an answer it would never send.
  ReplyFactory factory = [&page, &pending, &stranded](uint64_t) -> std::shared_ptr<Reply> {
    std::shared_ptr<Reply> outer = page.Defer();
    if (!outer) {
      stranded = true;
      return std::make_shared<Capture>(nullptr);  // the API's answer goes nowhere
    }
    return std::make_shared<Chain>(std::move(outer), std::move(pending));
  };
  res.reply_factory_ = &factory;
  api(req, res);
  if (stranded) return page.SetError(500, "the console cannot wait for this step here");
  if (res.deferred()) return;
  then(res.status, ParseBody(res), page);
}

}  // namespace hearth::admin

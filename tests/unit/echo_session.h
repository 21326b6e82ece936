#pragma once
// An echo Session for unit tests: a protocol of its own, served through the
// same accept path as HTTP (worker_test.cpp, server_start_test.cpp).
#include <functional>
#include <memory>
#include <string>

#include "io/out_queue.h"
#include "io/session.h"

namespace hearth::testing_support {

class EchoSession : public Session {
 public:
  char* ReadBuffer(size_t* space) override {
    *space = sizeof buf_;
    return buf_;
  }
  void OnRead(size_t n) override { pending_.append(buf_, n); }
  void OnPeerEof() override { done_ = true; }
  void Advance() override {
    if (pending_.empty()) return;
    out_.Append(pending_);
    pending_.clear();
  }
  OutQueue& out() override { return out_; }
  bool WantsRead() const override { return !done_; }
  bool ShouldClose() const override { return done_; }
  SessionWait Waiting() const override { return SessionWait::kNothing; }
  void Stop(bool) override { done_ = true; }
  // A server push (what a PUBLISH fan-out delivers): queued unasked, on the
  // loop (EventLoop::Resume), which then sends it.
  void Push(const std::string& text) { out_.Append(text); }

 private:
  char buf_[4096];
  std::string pending_;
  OutQueue out_;
  bool done_ = false;
};

// `opened` (if set) learns each new session's id, as a protocol's registry
// of subscribers would.
inline SessionFactory Echoes(std::function<void(uint64_t id)> opened = nullptr) {
  return [opened](const SessionInfo& info) -> std::unique_ptr<Session> {
    if (opened) opened(info.id);
    return std::make_unique<EchoSession>();
  };
}

}  // namespace hearth::testing_support

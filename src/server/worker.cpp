#include "server/worker.h"

#include <unistd.h>

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"
#include "server/worker_conn.h"

namespace hearth {

Worker::Worker(int index, WorkerShared* shared) : index_(index), shared_(shared) {
  ApplySettings();
}

void Worker::AdoptPart(std::unique_ptr<WorkerPart> part) {
  {
    std::lock_guard<std::mutex> lock(shared_->settings_mu);
    part->OnSettings(shared_->settings);
  }
  parts_.push_back(std::move(part));
}

Worker::~Worker() {
  Join();
  CloseInbox();  // replies finished from now on are dropped
  while (all_head_) Close(all_head_);
  FreeClosed();
  for (auto& l : listeners_)
    if (l->fd >= 0) close(l->fd);
}

void Worker::Start() {
  thread_ = std::thread([this] {
    Run();
    finished_.store(true);
  });
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Wake() {
  inbox()->Post([this] { OnShared(); });  // runs only while the loop does
}

void Worker::OnShared() {
  if (shared_->settings_generation.load() != seen_generation_) ApplySettings();
  if (shared_->stop.load() && !stopping_) BeginStop();
}

void Worker::ApplySettings() {
  std::lock_guard<std::mutex> lock(shared_->settings_mu);
  const Settings& s = shared_->settings;
  for (auto& part : parts_) part->OnSettings(s);
  header_timeout_ms_ = s.header_timeout_ms;
  body_timeout_ms_ = s.body_timeout_ms;
  idle_timeout_ms_ = s.keepalive_timeout_ms;
  write_timeout_ms_ = s.write_timeout_ms;
  shutdown_timeout_ms_ = s.shutdown_timeout_ms;
  max_connections_ = s.max_connections;
  seen_generation_ = shared_->settings_generation.load();
}

bool Worker::Resume(uint64_t id, const std::function<void(Session&)>& fn) {
  auto it = conns_by_id_.find(id);
  if (it == conns_by_id_.end()) return false;  // closed meanwhile
  Conn* c = it->second;
  fn(*c->session);
  Drive(c);
  return true;
}

int64_t Worker::WaitLimitMs(int64_t now_ms) {
  int64_t limit = 1000;
  if (accept_paused_ || stopping_) limit = 50;
  if (!again_.empty()) limit = 0;
  if (!paused_.empty()) limit = std::min(limit, std::max<int64_t>(0, paused_poll_at_ - now_ms));
  if (int64_t at = timers_.Earliest(); at > 0)
    limit = std::min(limit, std::max<int64_t>(0, at - now_ms));
  return limit;
}

void Worker::OnEvents() {
  if (!paused_.empty() && now_ms_ >= paused_poll_at_) {
    std::vector<uint64_t> ids;
    ids.swap(paused_);
    for (uint64_t id : ids) {
      auto it = conns_by_id_.find(id);
      if (it == conns_by_id_.end()) continue;
      it->second->tls_paused = false;
      if (it->second->handshaking) Drive(it->second);
    }
    paused_poll_at_ = now_ms_ + kPausedPollMs;
  }
  if (!again_.empty()) {
    std::vector<uint64_t> ids;
    ids.swap(again_);
    for (uint64_t id : ids) {
      auto it = conns_by_id_.find(id);
      if (it != conns_by_id_.end()) Drive(it->second);
    }
  }
}

void Worker::OnTurnEnd() {
  FreeClosed();  // no event of this turn is left to name them
  // Room again, or an idle connection that can make room (OnAccept closes it).
  if (accept_paused_ && !stopping_ &&
      (shared_->open_connections.load(std::memory_order_relaxed) < max_connections_ ||
       timers_.Head(kTimerIdle)))
    ResumeAccept();
  for (auto& part : parts_) part->OnTurnEnd();
  if (stopping_) {
    if (conn_count_ == 0) {
      // What a stop hook posted here runs first (next turn, at once).
      if (!inbox()->HasLocal() || now_ms_ >= stop_deadline_) Quit();
    } else if (now_ms_ >= stop_deadline_) {
      Log(LogLevel::kWarn, "shutdown timeout: closing connections still busy",
          {{"worker", index_}, {"connections", conn_count_}});
      while (all_head_) Close(all_head_);
      Quit();
    }
  }
}

void Worker::BeginStop() {
  stopping_ = true;
  stop_deadline_ = now_ms_ + shutdown_timeout_ms_;
  RunStopHooks();
  // Take what already waits in our accept queues: closing a listener would
  // reset those connections.
  if (accept_paused_) ResumeAccept();
  for (auto& l : listeners_) {
    if (l->fd < 0) continue;
    OnAccept(l.get(), true);
    Unwatch(l->fd);
    close(l->fd);
    l->fd = -1;
  }
  for (Conn* c = all_head_; c;) {
    Conn* next = c->anext;
    c->session->Stop(!c->fresh);
    if (c->session->ShouldClose()) {
      if (c->session->out().empty())
        BeginLinger(c);
      else
        Drive(c);  // an ended event stream's last chunk, then linger
    } else if (!c->session->out().empty()) {
      Drive(c);  // a goodbye (a GOAWAY, say), and streams that ended
    }
    c = next;
  }
}

}  // namespace hearth

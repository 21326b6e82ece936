#include "stream/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/clock.h"
#include "base/log.h"
#include "stream/files.h"

namespace hearth::stream {
namespace {

uint64_t GetLe(std::string_view b, size_t at, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

// The fields Append needs from an encoded entry's format-1 header, read
// without decoding the body (the writer already encoded it).
struct EntryTip {
  uint64_t index = 0;
  int64_t time_us = 0;
  uint64_t generation = 0;  // the one its writer stamped
  std::string database;
};
Result<EntryTip> ReadTip(std::string_view entry) {
  if (entry.size() < store::kEntryHeaderSize || entry.size() % 8 != 0 ||
      GetLe(entry, 0, 4) != store::kEntryMagic || GetLe(entry, 64, 8) != entry.size())
    return Error{"not one encoded entry (" + std::to_string(entry.size()) + " bytes)"};
  EntryTip t;
  t.index = GetLe(entry, 16, 8);
  t.time_us = static_cast<int64_t>(GetLe(entry, 48, 8));
  t.generation = GetLe(entry, 56, 8);
  uint64_t name_length = GetLe(entry, 76, 4);
  if (store::kEntryHeaderSize + name_length <= entry.size())
    t.database.assign(entry.substr(store::kEntryHeaderSize, name_length));
  return t;
}

// The index of a segment's last entry; an error if it holds none or
// cannot be read whole.
Result<uint64_t> LastIndexOf(const SegmentFile& f) {
  int fd = OpenSegmentFile(f.path, O_RDONLY);
  if (fd < 0) return Error{Errno("cannot open " + f.path)};
  SegmentReader reader(fd, f, f.size);
  uint64_t last = 0;
  std::string error;
  for (;;) {
    auto next = reader.Read();
    if (next.done) break;
    if (!next.error.empty()) {
      error = f.path + ": " + next.error;
      break;
    }
    last = next.entry.view.index;
  }
  close(fd);
  if (!error.empty()) return Error{error};
  if (last == 0) return Error{f.path + " holds no entry"};
  return last;
}

}  // namespace

LocalLog::Segment::~Segment() {
  if (fd >= 0) close(fd);
}

LocalLog::LocalLog(std::string dir, LogOptions options) : dir_(std::move(dir)), options_(options) {}

LocalLog::~LocalLog() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
}

Result<std::unique_ptr<LocalLog>> LocalLog::Open(const std::string& dir, LogOptions options) {
  for (const std::string& d : {dir, dir + "/wal"})
    if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) return Error{Errno("cannot create " + d)};
  std::unique_ptr<LocalLog> log(new LocalLog(dir, options));
  if (Status st = log->Recover(); !st.ok()) return st.error();
  log->syncer_ = std::thread([raw = log.get()] { raw->SyncLoop(); });
  return log;
}

Result<std::shared_ptr<LocalLog::Segment>> LocalLog::CreateSegment(uint64_t first_index) {
  auto seg = std::make_shared<Segment>();
  seg->base = tail_;
  seg->first_index = first_index;
  seg->path = wal_dir() + "/" + SegmentName(first_index);
  // A name is taken only when indexes went back (a restored folder): the
  // older file is kept under a name of its own.
  if (access(seg->path.c_str(), F_OK) == 0) {
    std::string aside = wal_dir() + "/" + Hex16(first_index) + "-" + Hex16(RandomId()) + ".hlog";
    if (rename(seg->path.c_str(), aside.c_str()) != 0)
      return Error{Errno("cannot move " + seg->path + " aside")};
  }
  seg->fd = open(seg->path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (seg->fd < 0) return Error{Errno("cannot create " + seg->path)};
  seg->size = 0;  // the header goes with the first entry, in one write
  dir_dirty_ = true;
  return seg;
}

void LocalLog::StartGenerationLocked(const std::string& why) {
  if (current_) retired_.push_back(std::move(current_));
  current_.reset();
  generation_ = {RandomId(), 0, WallNowMicros(), why};
  if (ceiling_) {
    // The failed generation ends here: what it holds past its last good
    // sync is never shipped, and durable() may move on with the new one.
    unsynced_.emplace_back(*ceiling_, tail_);
    skipped_to_write_ = true;
    ceiling_.reset();
  }
}

uint64_t LocalLog::Generation() const {
  std::unique_lock lk(mu_);
  auto* self = const_cast<LocalLog*>(this);  // starting a pending generation is not visible state
  if (self->pending_generation_) {
    self->StartGenerationLocked(*self->pending_generation_);
    self->pending_generation_.reset();
  }
  return generation_.id;
}

Result<uint64_t> LocalLog::Append(std::string_view entry) {
  auto tip = ReadTip(entry);
  if (!tip.ok()) return tip.error();
  std::unique_lock lk(mu_);
  // An entry stamped with the current generation goes into it, even when a
  // Break from another thread came between its Generation() and here (the
  // pending generation then starts at the next Generation()): an entry and
  // its file always agree.
  if (pending_generation_ && (generation_.id == 0 || tip->generation != generation_.id)) {
    StartGenerationLocked(*pending_generation_);
    pending_generation_.reset();
  }
  if (current_ && current_->size > kSegmentHeaderSize &&
      current_->size + entry.size() > options_.segment_bytes)
    retired_.push_back(std::move(current_));
  std::string header;
  if (!current_) {
    auto seg = CreateSegment(tip->index);
    if (!seg.ok()) return seg.error();
    current_ = std::move(seg).value();
    header = EncodeSegmentHeader({generation_.id, tip->index, current_->base, WallNowMicros()});
  }
  Segment& seg = *current_;
  // One write: the entry (and, in a new file, the header before it).
  iovec iov[2] = {{header.data(), header.size()}, {const_cast<char*>(entry.data()), entry.size()}};
  int iovcnt = 2;
  iovec* at = header.empty() ? &iov[1] : iov;
  if (header.empty()) iovcnt = 1;
  uint64_t pos = seg.size, want = header.size() + entry.size();
  while (want > 0) {
    ssize_t n = pwritev(seg.fd, at, iovcnt, static_cast<off_t>(pos));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string err = Errno("cannot append to " + seg.path);
      // Leave the file as it was; an empty new file goes.
      if (seg.size == 0) {
        unlink(seg.path.c_str());
        current_.reset();
      } else if (ftruncate(seg.fd, static_cast<off_t>(seg.size)) != 0) {
        retired_.push_back(std::move(current_));
      }
      return Error{err};
    }
    pos += static_cast<uint64_t>(n);
    want -= static_cast<uint64_t>(n);
    for (size_t done = static_cast<size_t>(n); done > 0 && iovcnt > 0;) {
      size_t step = std::min(done, at->iov_len);
      at->iov_base = static_cast<char*>(at->iov_base) + step;
      at->iov_len -= step;
      done -= step;
      if (at->iov_len == 0) ++at, --iovcnt;
    }
  }
  seg.size = pos;
  uint64_t offset = tail_;
  tail_ = seg.end();
  ++changes_;
  // The generation is recorded only once its first entry is written: one
  // that failed to write never names a generation no file carries.
  if (generation_.first_index == 0) {
    generation_.first_index = tip->index;
    generation_base_ = offset;
    generation_to_write_ = generation_;
    clear_broken_at_ = tail_;
  }
  before_last_ = std::move(last_);
  last_ = Tip{offset, tip->index, tip->time_us, std::move(tip->database)};
  // A syncer pacing itself takes this append with it anyway: waking it for
  // nothing would cost a context switch per batch.
  bool wake = !pacing_;
  lk.unlock();
  if (wake) work_cv_.notify_one();
  return offset;
}

void LocalLog::TruncateTo(uint64_t offset) {
  bool cut;
  {
    std::lock_guard lk(mu_);
    cut = TruncateLocked(offset);
  }
  // Recorded as a break (the `broken` file), so the uploader takes no
  // snapshot of the old generation and a restart starts anew as well.
  if (!cut) Break("an uncommitted entry could not be cut off");
}

bool LocalLog::TruncateLocked(uint64_t offset) {
  if (offset >= tail_) return true;
  // An entry that cannot be cut stays in its file: readers must never ship
  // it (a later entry's MarkCommitted moves committed() past it), so its
  // range joins the ones they skip, and a new generation starts.
  // The range is kept on disk too (`skipped`, by the syncer before it lets
  // anything after it be read): after a restart the entry is still there.
  auto keep_out = [&] {
    pending_generation_ = "an uncommitted entry could not be cut off";
    unsynced_.emplace_back(offset, tail_);
    skipped_to_write_ = true;
    // It is not the last entry any more: the one before it is.
    if (!before_last_ && last_) files_first_index_floor_ = last_->index - 1;
    last_ = std::move(before_last_);
    before_last_.reset();
    return false;
  };
  if (!current_ || offset < current_->base) {
    Log(LogLevel::kError, "change-stream log: cannot cut back past the current file",
        {{"offset", offset}, {"tail", tail_}});
    return keep_out();
  }
  Segment& seg = *current_;
  uint64_t keep = offset - seg.base + kSegmentHeaderSize;
  if (keep == kSegmentHeaderSize) keep = 0;  // the file held only this entry: it goes
  bool failed = options_.cut_fails && options_.cut_fails();
  if (failed || (keep == 0 ? unlink(seg.path.c_str()) != 0
                           : ftruncate(seg.fd, static_cast<off_t>(keep)) != 0)) {
    Log(LogLevel::kError, "change-stream log: cannot cut an uncommitted entry",
        {{"file", seg.path}, {"error", failed ? "test" : strerror(errno)}});
    retired_.push_back(std::move(current_));
    return keep_out();
  }
  if (keep == 0) {
    current_.reset();
    dir_dirty_ = true;
  } else {
    seg.size = keep;
  }
  tail_ = offset;
  ++changes_;
  truncated_low_ = std::min(truncated_low_, offset);
  TrimSkippedLocked(offset);  // the next append reuses these offsets
  if (generation_.first_index != 0 && offset <= generation_base_) {
    // The generation's first entry is taken back: it is recorded again with
    // the next append, and `broken` stays until then.
    generation_.first_index = 0;
    clear_broken_at_ = 0;
  }
  if (durable_.load() > offset) durable_ = offset;
  if (committed_.load() > offset) committed_ = offset;
  // Indexes have no gaps, so without the entry before it the last index is
  // still known (its time is not, and the databases' times cover it).
  if (!before_last_ && last_) files_first_index_floor_ = last_->index - 1;
  last_ = std::move(before_last_);
  before_last_.reset();
  return true;
}

void LocalLog::TrimSkippedLocked(uint64_t tail) {
  size_t before = unsynced_.size();
  bool changed = false;
  for (auto& r : unsynced_) {
    if (r.second > tail) {
      r.second = std::max(r.first, tail);
      changed = true;
    }
  }
  std::erase_if(unsynced_, [](const auto& r) { return r.first >= r.second; });
  if (changed || unsynced_.size() != before) skipped_to_write_ = true;
}

void LocalLog::Break(const std::string& why) {
  {
    std::lock_guard lk(mu_);
    breaks_.fetch_add(1);
    broken_why_ = why;
    pending_generation_ = "the stream broke: " + why;
    clear_broken_at_ = 0;
  }
  // Kept on disk so a restart before the new generation is whole still
  // starts anew. Written outside mu_ (commits append under it); the
  // syncer's removal checks pending_generation_ under broken_file_mu_.
  std::lock_guard file_lk(broken_file_mu_);
  Status st = WriteFileDurably(dir_, "broken", why);
  Log(LogLevel::kWarn, "change-stream log: the stream broke; a new generation starts",
      {{"why", why}, {"recorded", st.ok()}});
}

bool LocalLog::broken() const {
  std::lock_guard lk(mu_);
  return pending_generation_.has_value() && !broken_why_.empty();
}

std::string LocalLog::broken_why() const {
  std::lock_guard lk(mu_);
  return pending_generation_ ? broken_why_ : "";
}

void LocalLog::MarkCommitted(uint64_t offset_end) {
  uint64_t cur = committed_.load();
  while (cur < offset_end && !committed_.compare_exchange_weak(cur, offset_end)) {
  }
  if (uint64_t clear = clear_broken_at_.load(); clear != 0 && offset_end >= clear) {
    { std::lock_guard lk(mu_); }  // the syncer is waiting or sees the new value
    work_cv_.notify_one();
  }
}

uint64_t LocalLog::end() const {
  std::lock_guard lk(mu_);
  return tail_;
}

bool LocalLog::WaitDurable(uint64_t offset, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return durable_cv_.wait_for(lk, timeout, [&] { return durable_.load() >= offset; });
}

uint64_t LocalLog::last_index() const {
  std::lock_guard lk(mu_);
  return last_ ? last_->index : files_first_index_floor_;
}

int64_t LocalLog::last_time_us() const {
  std::lock_guard lk(mu_);
  return last_ ? last_->time_us : 0;
}

uint64_t LocalLog::generation() const {
  std::lock_guard lk(mu_);
  return generation_.id;
}

uint64_t LocalLog::generation_first_index() const {
  std::lock_guard lk(mu_);
  return generation_.first_index;
}

void LocalLog::SyncLoop() {
  std::unique_lock lk(mu_);
  for (;;) {
    auto clear_due = [&] {
      uint64_t c = clear_broken_at_.load();
      return c != 0 && !pending_generation_ && committed_.load() >= c && durable_.load() >= c;
    };
    auto work = [&] {
      return changes_ != synced_changes_ || !retired_.empty() || generation_to_write_ ||
             dir_dirty_ || skipped_to_write_ || clear_due();
    };
    work_cv_.wait(lk, [&] { return stop_ || work(); });
    if (!work()) return;  // stopping, and everything is on disk
    if (options_.sync_every.count() > 0 && !stop_) {
      // Lets the appends of the rest of the interval join this pass; a stop
      // does not wait.
      pacing_ = true;
      work_cv_.wait_until(lk, last_pass_ + options_.sync_every, [&] { return stop_; });
      pacing_ = false;
    }
    last_pass_ = std::chrono::steady_clock::now();
    uint64_t target = tail_, changes = changes_;
    auto seg = current_;
    auto retired = std::move(retired_);
    retired_.clear();
    auto gen = std::move(generation_to_write_);
    generation_to_write_.reset();
    bool dir = std::exchange(dir_dirty_, false);
    std::optional<std::vector<std::pair<uint64_t, uint64_t>>> skipped;
    if (std::exchange(skipped_to_write_, false)) skipped = unsynced_;
    uint64_t clear = clear_due() ? clear_broken_at_.load() : 0;
    truncated_low_ = UINT64_MAX;
    lk.unlock();

    std::string failed;
    if (options_.sync_hook) failed = options_.sync_hook();
    for (auto& r : retired)
      if (fdatasync(r->fd) != 0) failed = Errno("fdatasync " + r->path);
    if (seg && fdatasync(seg->fd) != 0) failed = Errno("fdatasync " + seg->path);
    if (dir) {
      if (Status st = FsyncPath(wal_dir()); !st.ok()) failed = st.error().message;
    }
    if (skipped) {
      // Before durable() moves past them: what follows a skipped range is
      // read only once the range is on disk too.
      nlohmann::json j = nlohmann::json::array();
      for (const auto& [low, high] : *skipped) j.push_back({low, high});
      if (Status st = WriteFileDurably(dir_, "skipped", j.dump() + "\n"); !st.ok())
        failed = st.error().message;
    }
    if (gen) {
      nlohmann::json j = {{"id", Hex16(gen->id)},
                          {"first_index", gen->first_index},
                          {"started_at", FormatIso8601(gen->started_us)},
                          {"reason", gen->reason}};
      if (Status st = WriteFileDurably(dir_, "generation", j.dump() + "\n"); !st.ok())
        failed = st.error().message;
    }
    retired.clear();
    seg.reset();
    if (!failed.empty()) {
      // Recorded before anything else, so a restart starts a new generation.
      std::lock_guard file_lk(broken_file_mu_);
      (void)WriteFileDurably(dir_, "broken", "the log could not be synced: " + failed);
    } else if (clear != 0) {
      // The new generation's first entry is committed and durable: the
      // break is behind it. Checked again under the file lock, since a Break
      // may have come since (it writes `broken` after setting its reason).
      std::lock_guard file_lk(broken_file_mu_);
      bool still;
      {
        std::lock_guard relk(mu_);
        still = !pending_generation_ && clear_broken_at_.load() == clear;
      }
      if (still && unlink((dir_ + "/broken").c_str()) == 0)
        (void)FsyncPath(dir_);  // a lost removal only starts one more generation
      if (still) {
        std::lock_guard relk(mu_);
        if (clear_broken_at_.load() == clear) {
          clear_broken_at_ = 0;
          if (!pending_generation_) broken_why_.clear();
        }
      }
    }

    lk.lock();
    synced_changes_ = changes;
    if (failed.empty()) {
      uint64_t now_durable = std::min(target, truncated_low_);
      if (ceiling_) now_durable = std::min(now_durable, *ceiling_);
      if (now_durable > durable_.load()) durable_ = now_durable;
      durable_cv_.notify_all();
    } else {
      // Linux may drop the dirty pages of a failed fdatasync, so a retry
      // proves nothing: what the log holds can no longer be trusted, and
      // durable() never passes what it was before this pass in this generation.
      Log(LogLevel::kError, "change-stream log: sync failed", {{"error", failed}});
      if (!ceiling_) ceiling_ = durable_.load();
      breaks_.fetch_add(1);
      broken_why_ = failed;
      pending_generation_ = "the log could not be synced: " + failed;
      clear_broken_at_ = 0;
    }
  }
}

Status LocalLog::ForEach(uint64_t from_index, uint64_t to_offset,
                         const std::function<bool(const LogEntry&)>& fn) const {
  std::vector<std::pair<uint64_t, uint64_t>> unsynced;
  {
    std::lock_guard lk(mu_);
    unsynced = unsynced_;
  }
  if (unsynced.empty()) return ForEachEntry(wal_dir(), from_index, to_offset, fn);
  return ForEachEntry(wal_dir(), from_index, to_offset, [&](const LogEntry& e) {
    for (const auto& [low, high] : unsynced)
      if (e.offset >= low && e.offset < high) return true;  // a failed sync's: never shipped
    return fn(e);
  });
}

Result<int> LocalLog::DropThrough(uint64_t index) {
  std::string current;
  {
    std::lock_guard lk(mu_);
    if (current_) current = current_->path;
  }
  // Listing, reading and removing run outside mu_ (every commit appends
  // under it). The newest listed file is never removed, so a roll meanwhile
  // only leaves the old current file to a later call.
  auto files = ListSegments(wal_dir());
  if (!files.ok()) return files.error();
  int dropped = 0;
  for (size_t i = 0; i + 1 < files->size(); ++i) {
    const SegmentFile& f = (*files)[i];
    if (f.path == current) break;
    // Indexes grow only within a generation: a file followed by another
    // generation's (which may start lower) is read for its last index.
    const SegmentFile& next = (*files)[i + 1];
    uint64_t last = 0;
    if (next.header.generation == f.header.generation) {
      last = next.header.first_index - 1;
    } else {
      auto l = LastIndexOf(f);
      if (!l.ok()) break;
      last = *l;
    }
    if (last > index) break;
    if (unlink(f.path.c_str()) != 0) return Error{Errno("cannot remove " + f.path)};
    ++dropped;
  }
  if (dropped > 0) {
    std::lock_guard lk(mu_);
    dir_dirty_ = true;
    work_cv_.notify_one();
  }
  return dropped;
}

}  // namespace hearth::stream

#include "stream/log.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strings.h"

namespace hearth::stream {
namespace {

uint64_t GetLe(std::string_view b, size_t at, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

std::string Errno(const std::string& what) {
  return what + ": " + strerror(errno);
}

std::string Hex16(uint64_t v) {
  char buf[20];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

uint64_t RandomId() {
  uint64_t id = 0;
  while (id == 0)
    if (getrandom(&id, sizeof id, 0) != static_cast<ssize_t>(sizeof id)) id = 0;
  return id;
}

Status FsyncPath(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{Errno("cannot open " + path)};
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return Error{Errno("cannot fsync " + path)};
  return OkStatus();
}

// tmp, fsync, rename, fsync of the folder: the file is the old one or the
// new one after a power loss, never a mix.
Status WriteFileDurably(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = dir + "/" + name, tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error{Errno("cannot create " + tmp)};
  bool ok =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  std::string err = ok ? "" : Errno("cannot write " + tmp);
  close(fd);
  if (!ok) return Error{err};
  if (rename(tmp.c_str(), path.c_str()) != 0) return Error{Errno("cannot rename " + tmp)};
  return FsyncPath(dir);
}

Result<std::string> ReadSmallFile(const std::string& path, bool* missing) {
  *missing = false;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) *missing = true;
    return Error{Errno("cannot open " + path)};
  }
  std::string out;
  char buf[4096];
  ssize_t got;
  while ((got = read(fd, buf, sizeof buf)) > 0 && out.size() < 65536) out.append(buf, got);
  close(fd);
  if (got < 0) return Error{Errno("cannot read " + path)};
  return out;
}

// The fields Append needs from an encoded entry's format-1 header, read
// without decoding the body (the writer already encoded it).
struct EntryTip {
  uint64_t index = 0;
  int64_t time_us = 0;
  std::string database;
};
Result<EntryTip> ReadTip(std::string_view entry) {
  if (entry.size() < store::kEntryHeaderSize || entry.size() % 8 != 0 ||
      GetLe(entry, 0, 4) != store::kEntryMagic || GetLe(entry, 64, 8) != entry.size())
    return Error{"not one encoded entry (" + std::to_string(entry.size()) + " bytes)"};
  EntryTip t;
  t.index = GetLe(entry, 16, 8);
  t.time_us = static_cast<int64_t>(GetLe(entry, 48, 8));
  uint64_t name_length = GetLe(entry, 76, 4);
  if (store::kEntryHeaderSize + name_length <= entry.size())
    t.database.assign(entry.substr(store::kEntryHeaderSize, name_length));
  return t;
}

}  // namespace

struct LocalLog::Segment {
  int fd = -1;
  std::string path;
  uint64_t base = 0;         // log offset of the first entry
  uint64_t first_index = 0;  // of the first entry
  uint64_t size = 0;         // file bytes, header included
  ~Segment() {
    if (fd >= 0) close(fd);
  }
  uint64_t end() const { return base + size - kSegmentHeaderSize; }
};

Result<GenerationFile> ReadGenerationFile(const std::string& dir) {
  bool missing = false;
  auto text = ReadSmallFile(dir + "/generation", &missing);
  if (!text.ok()) return missing ? Result<GenerationFile>(GenerationFile{}) : text.error();
  auto j = ParseJson(*text);
  if (!j.ok() || !j->is_object()) return Error{dir + "/generation is not a JSON object"};
  GenerationFile g;
  std::string id = j->value("id", "");
  if (id.size() != 16 || !ParseHex(id.substr(0, 8), &g.id))
    return Error{dir + "/generation: bad id"};
  uint64_t low = 0;
  if (!ParseHex(id.substr(8), &low)) return Error{dir + "/generation: bad id"};
  g.id = (g.id << 32) | low;
  if ((*j)["first_index"].is_number_unsigned()) g.first_index = (*j)["first_index"].get<uint64_t>();
  g.started_at = j->value("started_at", "");
  g.reason = j->value("reason", "");
  return g;
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

Status LocalLog::Recover() {
  auto gen = ReadGenerationFile(dir_);
  if (!gen.ok()) {
    pending_generation_ = gen.error().message;
  } else {
    generation_.id = gen->id;
    generation_.first_index = gen->first_index;
    generation_.reason = gen->reason;
  }
  bool missing = false;
  if (auto why = ReadSmallFile(dir_ + "/broken", &missing); why.ok()) {
    broken_why_ = *why;
    pending_generation_ = "the stream broke before the last stop: " + *why;
  }
  if (Status st = ScanNewest(); !st.ok()) return st;
  if (generation_.id == 0 && !pending_generation_) pending_generation_ = "a new log";
  if (pending_generation_) {
    recovery_.new_generation_why = *pending_generation_;
    Log(LogLevel::kWarn, "change-stream log: a new generation starts",
        {{"dir", dir_}, {"why", *pending_generation_}});
  }
  committed_ = durable_ = synced_tail_ = tail_;
  return OkStatus();
}

// Scans the newest segment to its end, cutting a torn tail. A file left
// with no entry (cut while it was being created) is removed and the one
// before it scanned instead.
Status LocalLog::ScanNewest() {
  for (;;) {
    std::vector<std::string> unreadable;
    auto files = ListSegments(wal_dir(), &unreadable);
    if (!files.ok()) return files.error();
    for (const std::string& path : unreadable) {
      bool missing = false;
      auto bytes = ReadSmallFile(path, &missing);
      HeaderFault fault = HeaderFault::kDamaged;
      auto h = bytes.ok() ? DecodeSegmentHeader(*bytes, &fault) : Result<SegmentHeader>(Error{""});
      if (fault == HeaderFault::kNewer) return Error{path + ": " + h.error().message};
      if (fault == HeaderFault::kTruncated) {
        // Cut while being created (the header and first entry go in one write).
        Log(LogLevel::kWarn, "change-stream log: removed a torn segment", {{"file", path}});
        unlink(path.c_str());
        continue;
      }
      if (!pending_generation_) pending_generation_ = "segment " + path + " is unreadable";
    }
    if (files->empty()) return OkStatus();
    const SegmentFile& f = files->back();
    auto seg = std::make_shared<Segment>();
    seg->fd = open(f.path.c_str(), O_RDWR | O_CLOEXEC);
    if (seg->fd < 0) return Error{Errno("cannot open " + f.path)};
    seg->path = f.path;
    seg->base = f.header.base_offset;
    seg->first_index = f.header.first_index;
    SegmentReader reader(seg->fd, f, f.size);
    last_.reset();
    before_last_.reset();
    files_first_index_floor_ = f.header.first_index > 0 ? f.header.first_index - 1 : 0;
    bool damaged = false;
    for (;;) {
      auto next = reader.Read();
      if (next.done) break;
      if (next.error.empty()) {
        before_last_ = std::move(last_);
        const auto& v = next.entry.view;
        last_ = Tip{next.entry.offset, v.index, v.commit_time_us, std::string(v.database)};
        continue;
      }
      if (next.fault == store::EntryFault::kNewer)
        return Error{f.path + ": " + next.error + " (the log cannot be opened by this hearth)"};
      if (next.fault == store::EntryFault::kNone) return Error{f.path + ": " + next.error};
      bool at_end = next.fault == store::EntryFault::kTruncated || next.claimed_end >= f.size;
      if (!at_end) {
        damaged = true;
        pending_generation_ = "the log is damaged: " + f.path + " at byte " +
                              std::to_string(reader.position()) + ": " + next.error;
        Log(LogLevel::kError, "change-stream log: damage in the middle of the newest file",
            {{"file", f.path}, {"at", reader.position()}, {"error", next.error}});
      }
      break;
    }
    uint64_t keep = damaged ? f.size : reader.position();
    if (keep < f.size) {
      if (ftruncate(seg->fd, static_cast<off_t>(keep)) != 0 || fdatasync(seg->fd) != 0)
        return Error{Errno("cannot cut the torn tail of " + f.path)};
      recovery_.cut_bytes += f.size - keep;
      Log(LogLevel::kWarn, "change-stream log: cut a torn tail",
          {{"file", f.path}, {"at", keep}, {"bytes", f.size - keep}});
    }
    seg->size = keep;
    if (!last_ && !damaged) {
      Log(LogLevel::kWarn, "change-stream log: removed a segment with no entry",
          {{"file", f.path}});
      if (unlink(f.path.c_str()) != 0) return Error{Errno("cannot remove " + f.path)};
      (void)FsyncPath(wal_dir());  // the removal is redone at the next open if lost
      continue;
    }
    tail_ = seg->end();
    if (generation_.id != f.header.generation && !pending_generation_) {
      // The syncer had not written the generation file when the process
      // stopped; the segment's header is the record.
      generation_ = {f.header.generation, f.header.first_index, f.header.created_us,
                     "recovered from " + f.path};
      generation_to_write_ = generation_;
    }
    if (!damaged) current_ = std::move(seg);
    return OkStatus();
  }
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
}

Result<uint64_t> LocalLog::Append(std::string_view entry) {
  auto tip = ReadTip(entry);
  if (!tip.ok()) return tip.error();
  std::unique_lock lk(mu_);
  if (pending_generation_) {
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
    if (generation_.first_index == 0) {
      generation_.first_index = tip->index;
      generation_to_write_ = generation_;
    }
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
  before_last_ = std::move(last_);
  last_ = Tip{offset, tip->index, tip->time_us, std::move(tip->database)};
  lk.unlock();
  work_cv_.notify_one();
  return offset;
}

void LocalLog::TruncateTo(uint64_t offset) {
  std::lock_guard lk(mu_);
  TruncateLocked(offset);
}

void LocalLog::TruncateLocked(uint64_t offset) {
  if (offset >= tail_) return;
  if (!current_ || offset < current_->base) {
    Log(LogLevel::kError, "change-stream log: cannot cut back past the current file",
        {{"offset", offset}, {"tail", tail_}});
    pending_generation_ = "an uncommitted entry could not be cut off";
    return;
  }
  Segment& seg = *current_;
  uint64_t keep = offset - seg.base + kSegmentHeaderSize;
  if (keep == kSegmentHeaderSize) keep = 0;  // the file held only this entry: it goes
  if (keep == 0 ? unlink(seg.path.c_str()) != 0
                : ftruncate(seg.fd, static_cast<off_t>(keep)) != 0) {
    Log(LogLevel::kError, "change-stream log: cannot cut an uncommitted entry",
        {{"file", seg.path}, {"error", strerror(errno)}});
    pending_generation_ = "an uncommitted entry could not be cut off";
    retired_.push_back(std::move(current_));
    return;
  }
  if (keep == 0) {
    current_.reset();
    dir_dirty_ = true;
  } else {
    seg.size = keep;
  }
  tail_ = offset;
  truncated_low_ = std::min(truncated_low_, offset);
  if (durable_.load() > offset) durable_ = offset;
  if (committed_.load() > offset) committed_ = offset;
  // Indexes have no gaps, so without the entry before it the last index is
  // still known (its time is not, and the databases' times cover it).
  if (!before_last_ && last_) files_first_index_floor_ = last_->index - 1;
  last_ = std::move(before_last_);
  before_last_.reset();
}

void LocalLog::Break(const std::string& why) {
  std::lock_guard lk(mu_);
  breaks_.fetch_add(1);
  broken_why_ = why;
  pending_generation_ = "the stream broke: " + why;
  // Kept on disk so a restart before the next append still starts anew.
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

void LocalLog::SyncLoop() {
  std::unique_lock lk(mu_);
  for (;;) {
    auto work = [&] {
      return tail_ != synced_tail_ || !retired_.empty() || generation_to_write_ || dir_dirty_;
    };
    work_cv_.wait(lk, [&] { return stop_ || work(); });
    if (!work()) return;  // stopping, and everything is on disk
    uint64_t target = tail_;
    auto seg = current_;
    auto retired = std::move(retired_);
    retired_.clear();
    auto gen = std::move(generation_to_write_);
    generation_to_write_.reset();
    bool dir = std::exchange(dir_dirty_, false);
    truncated_low_ = UINT64_MAX;
    lk.unlock();

    std::string failed;
    for (auto& r : retired)
      if (fdatasync(r->fd) != 0) failed = Errno("fdatasync " + r->path);
    if (seg && fdatasync(seg->fd) != 0) failed = Errno("fdatasync " + seg->path);
    if (dir) {
      if (Status st = FsyncPath(wal_dir()); !st.ok()) failed = st.error().message;
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

    lk.lock();
    synced_tail_ = target;
    if (failed.empty()) {
      if (gen && !pending_generation_ && unlink((dir_ + "/broken").c_str()) == 0) {
        broken_why_.clear();
        (void)FsyncPath(dir_);  // a lost removal only starts one more generation
      }
      uint64_t now_durable = std::min(target, truncated_low_);
      if (now_durable > durable_.load()) durable_ = now_durable;
      durable_cv_.notify_all();
    } else {
      // Linux may drop the dirty pages of a failed fdatasync, so a retry
      // proves nothing: what the log holds can no longer be trusted.
      Log(LogLevel::kError, "change-stream log: sync failed", {{"error", failed}});
      breaks_.fetch_add(1);
      broken_why_ = failed;
      pending_generation_ = "the log could not be synced: " + failed;
    }
  }
}

Result<TailCheck> LocalLog::DropUncommittedTail(
    const std::map<std::string, uint64_t>& db_last_index) {
  auto held = [&](const std::string& db) -> uint64_t {
    auto it = db_last_index.find(db);
    return it == db_last_index.end() ? 0 : it->second;
  };
  TailCheck out;
  {
    std::unique_lock lk(mu_);
    if (last_ && !last_->database.empty() && held(last_->database) < last_->index && current_ &&
        last_->offset >= current_->base) {
      Log(LogLevel::kWarn, "change-stream log: dropped an entry that never committed",
          {{"index", last_->index}, {"database", last_->database}});
      out.dropped = true;
      TruncateLocked(last_->offset);
      committed_ = durable_ = synced_tail_ = tail_;
    }
    uint64_t log_last = last_ ? last_->index : files_first_index_floor_;
    if (last_ && !last_->database.empty() && held(last_->database) < last_->index)
      out.why = last_->database + " does not hold index " + std::to_string(last_->index) +
                ", which the log holds";
    for (const auto& [name, index] : db_last_index)
      if (index > log_last)
        out.why = name + " holds index " + std::to_string(index) + " but the log ends at " +
                  std::to_string(log_last);
    if (!out.why.empty()) {
      out.new_generation = true;
      if (!pending_generation_) pending_generation_ = out.why;
    }
  }
  if (out.new_generation)
    Log(LogLevel::kWarn,
        "change-stream log: out of step with the databases; a new generation starts",
        {{"why", out.why}});
  return out;
}

Status LocalLog::ForEach(uint64_t from_index, uint64_t to_offset,
                         const std::function<bool(const LogEntry&)>& fn) const {
  return ForEachEntry(wal_dir(), from_index, to_offset, fn);
}

Result<int> LocalLog::DropThrough(uint64_t index) {
  std::lock_guard lk(mu_);
  auto files = ListSegments(wal_dir());
  if (!files.ok()) return files.error();
  int dropped = 0;
  for (size_t i = 0; i + 1 < files->size(); ++i) {
    const SegmentFile& f = (*files)[i];
    if (current_ && f.path == current_->path) continue;
    if ((*files)[i + 1].header.first_index > index + 1) break;
    if (unlink(f.path.c_str()) != 0) return Error{Errno("cannot remove " + f.path)};
    ++dropped;
  }
  if (dropped > 0) {
    dir_dirty_ = true;
    work_cv_.notify_one();
  }
  return dropped;
}

}  // namespace hearth::stream

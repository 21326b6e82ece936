// LocalLog's start: recovery of the newest segment at open, the generation
// record, and the check of the log against the databases' own last indexes
// (docs/store.md, "The local log").
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "base/json.h"
#include "base/log.h"
#include "base/strings.h"
#include "stream/files.h"
#include "stream/log.h"

namespace hearth::stream {

namespace {
std::string Stripped(std::string_view s) {
  while (!s.empty() && isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return std::string(s);
}
}  // namespace

Result<GenerationFile> ReadGenerationFile(const std::string& dir) {
  bool missing = false;
  auto text = ReadSmallFile(dir + "/generation", &missing);
  if (!text.ok()) return missing ? Result<GenerationFile>(GenerationFile{}) : text.error();
  auto j = ParseJson(*text);
  if (!j.ok() || !j->is_object()) return Error{dir + "/generation is not a JSON object"};
  // Written by hearth, but read as if it were not: a wrong type is "bad", never a throw.
  auto text_of = [&](const char* key) {
    auto it = j->find(key);
    return it != j->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  GenerationFile g;
  std::string id = text_of("id");
  uint64_t high = 0, low = 0;
  if (id.size() != 16 || !ParseHex(id.substr(0, 8), &high) || !ParseHex(id.substr(8), &low))
    return Error{dir + "/generation: bad id"};
  g.id = (high << 32) | low;
  auto first = j->find("first_index");
  if (first != j->end() && first->is_number_unsigned()) g.first_index = first->get<uint64_t>();
  g.started_at = text_of("started_at");
  g.reason = text_of("reason");
  return g;
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
  // Ranges readers skip (an entry whose cut failed, a failed sync's tail):
  // the entries are still in their files after a restart.
  if (auto text = ReadSmallFile(dir_ + "/skipped", &missing); text.ok()) {
    auto j = ParseJson(*text);
    bool whole = j.ok() && j->is_array();
    if (whole) {
      for (const auto& r : *j) {
        if (!r.is_array() || r.size() != 2 || !r[0].is_number_unsigned() ||
            !r[1].is_number_unsigned()) {
          whole = false;
          break;
        }
        unsynced_.emplace_back(r[0].get<uint64_t>(), r[1].get<uint64_t>());
      }
    }
    if (!whole) pending_generation_ = dir_ + "/skipped is unreadable";
  } else if (!missing) {
    pending_generation_ = text.error().message;
  }
  if (Status st = ScanNewest(); !st.ok()) return st;
  // Offsets at or past the tail are written again by the next appends (a
  // torn tail cut, a failed cut redone): a skipped range never covers them.
  TrimSkippedLocked(tail_);
  // Whether the machine restarted since the last open (DropUncommittedTail
  // reads older files only then). Unknown (no /proc): as if it did.
  std::string boot = options_.boot_id;
  if (boot.empty()) {
    bool none = false;
    auto text = ReadSmallFile("/proc/sys/kernel/random/boot_id", &none);
    if (text.ok()) boot = Stripped(*text);
  }
  bool no_record = false;
  auto was = ReadSmallFile(dir_ + "/boot", &no_record);
  same_boot_ = !boot.empty() && was.ok() && Stripped(*was) == boot;
  if (!boot.empty() && !same_boot_) (void)WriteFileDurably(dir_, "boot", boot + "\n");
  if (generation_.id == 0 && !pending_generation_) pending_generation_ = "a new log";
  if (pending_generation_) {
    recovery_.new_generation_why = *pending_generation_;
    Log(LogLevel::kWarn, "change-stream log: a new generation starts",
        {{"dir", dir_}, {"why", *pending_generation_}});
  }
  durable_ = tail_;
  // The last entry's COMMIT may have failed: readers see it only once
  // DropUncommittedTail has checked it against its database.
  committed_ = last_ ? last_->offset : tail_;
  return OkStatus();
}

namespace {

// Why `prev` (the file before the newest, `newest`) does not lead into it
// whole, or "" when it does (or belongs to an older generation).
std::string CheckPrevious(const SegmentFile& prev, const SegmentFile& newest) {
  if (prev.header.generation != newest.header.generation) return "";
  if (prev.size < kSegmentHeaderSize ||
      prev.header.base_offset + (prev.size - kSegmentHeaderSize) != newest.header.base_offset)
    return prev.path + " does not end where " + newest.path + " starts";
  int fd = OpenSegmentFile(prev.path, O_RDONLY);
  if (fd < 0) return Errno("cannot open " + prev.path);
  SegmentReader reader(fd, prev, prev.size);
  uint64_t last = 0;
  std::string why;
  for (;;) {
    auto next = reader.Read();
    if (next.done) break;
    if (!next.error.empty()) {
      why = prev.path + " at byte " + std::to_string(reader.position()) + ": " + next.error;
      break;
    }
    last = next.entry.view.index;
  }
  close(fd);
  if (why.empty() && last + 1 != newest.header.first_index)
    why = prev.path + " ends at index " + std::to_string(last) + " but " + newest.path +
          " starts at " + std::to_string(newest.header.first_index);
  return why;
}

}  // namespace

// Scans the newest segment to its end, cutting a torn tail. A file left
// with no entry (cut while it was being created) is removed and the one
// before it scanned instead.
Status LocalLog::ScanNewest() {
  for (;;) {
    std::vector<std::string> unreadable;
    auto files = ListSegments(wal_dir(), &unreadable);
    if (!files.ok()) return files.error();
    for (const std::string& path : unreadable) {
      struct stat st {};
      if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        // Never read (a FIFO would block): not hearth's, and not trusted.
        if (!pending_generation_) pending_generation_ = path + " is not a regular file";
        continue;
      }
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
    seg->fd = OpenSegmentFile(f.path, O_RDWR);
    if (seg->fd < 0) return Error{Errno("cannot open " + f.path)};
    seg->path = f.path;
    seg->base = f.header.base_offset;
    seg->first_index = f.header.first_index;
    SegmentReader reader(seg->fd, f, f.size);
    last_.reset();
    before_last_.reset();
    newest_tops_.clear();
    files_first_index_floor_ = f.header.first_index > 0 ? f.header.first_index - 1 : 0;
    bool damaged = false;
    for (;;) {
      auto next = reader.Read();
      if (next.done) break;
      if (next.error.empty()) {
        before_last_ = std::move(last_);
        const auto& v = next.entry.view;
        last_ = Tip{next.entry.offset, v.index, v.commit_time_us, std::string(v.database)};
        auto& top = newest_tops_[last_->database];
        top = {v.index, top[0]};
        continue;
      }
      if (next.fault == store::EntryFault::kNewer)
        return Error{f.path + ": " + next.error + " (the log cannot be opened by this hearth)"};
      if (next.fault == store::EntryFault::kNone) return Error{f.path + ": " + next.error};
      // A torn write leaves the end of the file: a cut is right only when
      // nothing valid follows what it cuts. Zeros (or a header cut short)
      // are torn when only zeros follow; a header whose CRC fails, when no
      // entry header follows; a body that fails, when it reaches the end.
      uint64_t pos = reader.position();
      bool at_end;
      if (next.claimed_end > 0) {
        at_end = next.claimed_end >= f.size;
      } else if (next.fault == store::EntryFault::kTruncated) {
        auto more = f.size - pos < store::kEntryHeaderSize
                        ? Result<bool>(false)
                        : SomethingFollows(seg->fd, pos, f.size, /*any_byte=*/true);
        if (!more.ok()) return Error{f.path + ": " + more.error().message};
        at_end = !*more;
      } else {
        auto more = SomethingFollows(seg->fd, pos + 8, f.size, /*any_byte=*/false);
        if (!more.ok()) return Error{f.path + ": " + more.error().message};
        at_end = !*more;
      }
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
    } else if (fdatasync(seg->fd) != 0) {
      // What a killed process left in the page cache becomes what
      // durable() claims from here on.
      return Error{Errno("cannot sync " + f.path)};
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
    // Writes are acknowledged once appended, before the syncer's fdatasync
    // (store/capture.h), so a killed process may have left appends of the
    // files before the newest, and new names in wal/, only in the page
    // cache: synced here before durable() claims them (a clean file costs
    // next to nothing).
    // One that cannot be synced is not trusted: a new generation, never a
    // refusal to start.
    for (size_t i = 0; i + 1 < files->size(); ++i) {
      const std::string& path = (*files)[i].path;
      int fd = OpenSegmentFile(path, O_RDONLY);
      int rc = fd < 0 ? -1 : fdatasync(fd);
      int err = rc != 0 ? errno : 0;
      if (fd >= 0) close(fd);
      if (rc != 0 && err != ENOENT && !pending_generation_) {
        errno = err;
        pending_generation_ = Errno("cannot sync " + path);
        Log(LogLevel::kError, "change-stream log: a file before the newest cannot be synced",
            {{"why", *pending_generation_}});
      }
    }
    if (Status st = FsyncPath(wal_dir()); !st.ok() && !pending_generation_)
      pending_generation_ = st.error().message;
    if (files->size() >= 2 && !pending_generation_) {
      // A power loss can leave the file before the newest torn while the
      // newest is whole: the generation then has a hole.
      std::string why = CheckPrevious((*files)[files->size() - 2], f);
      if (!why.empty()) {
        pending_generation_ = why;
        Log(LogLevel::kError, "change-stream log: the file before the newest is not whole",
            {{"why", why}});
      }
    }
    if (generation_.id != f.header.generation && !pending_generation_) {
      bool older = generation_.id == 0;  // no record yet
      for (const SegmentFile& other : *files)
        if (other.header.generation == generation_.id) older = true;
      if (older) {
        // The syncer had not written the generation file when the process
        // stopped; the segment's header is the record.
        generation_ = {f.header.generation, f.header.first_index, f.header.created_us,
                       "recovered from " + f.path};
        generation_to_write_ = generation_;
      } else {
        // A generation was recorded whose entries are gone (its first entry
        // was taken back): the newest file's generation has a break after it.
        pending_generation_ =
            "the generation file names " + Hex16(generation_.id) + ", which no segment carries";
      }
    }
    if (!damaged) current_ = std::move(seg);
    return OkStatus();
  }
}

namespace {

// Reads back, newest first, the current generation's files before the newest
// for the databases `unseen` (with no entry in the newest file): the highest
// index the log holds for each, above what it holds. A power loss can take
// seconds of one database's commits (its WAL not synced) while the log,
// synced every few ms, keeps them in an earlier file. Stops once no older
// entry can be above the lowest index those databases hold.
std::map<std::string, uint64_t> NewestInEarlierFiles(
    const std::string& wal_dir, const std::map<std::string, uint64_t>& unseen) {
  std::map<std::string, uint64_t> found;
  if (unseen.empty()) return found;
  uint64_t floor = UINT64_MAX;
  for (const auto& [name, held] : unseen) floor = std::min(floor, held);
  auto files = ListSegments(wal_dir);
  if (!files.ok() || files->size() < 2) return found;
  const uint64_t generation = files->back().header.generation;
  uint64_t upper = files->back().header.first_index - 1;  // the highest index older files hold
  constexpr uint64_t kMaxBytes = uint64_t{1} << 30;       // a start that reads more says so
  uint64_t read = 0;
  for (size_t i = files->size() - 1; i-- > 0;) {
    const SegmentFile& f = (*files)[i];
    if (upper <= floor || f.header.generation != generation) break;
    if (read > kMaxBytes) {
      Log(LogLevel::kWarn, "change-stream log: stopped checking older files against the databases",
          {{"read_bytes", read}, {"at", f.path}});
      break;
    }
    int fd = OpenSegmentFile(f.path, O_RDONLY);
    if (fd < 0) break;
    SegmentReader reader(fd, f, f.size);
    for (;;) {
      auto next = reader.Read();
      if (next.done || !next.error.empty()) break;
      const auto& v = next.entry.view;
      auto it = unseen.find(std::string(v.database));
      if (it != unseen.end() && v.index > it->second) {
        uint64_t& top = found[it->first];
        top = std::max(top, v.index);
      }
    }
    close(fd);
    read += f.size;
    upper = f.header.first_index > 0 ? f.header.first_index - 1 : 0;
  }
  return found;
}

}  // namespace

Result<TailCheck> LocalLog::DropUncommittedTail(
    const std::map<std::string, uint64_t>& db_last_index) {
  TailCheck out;
  // At start, before any writer: mu_ is taken in steps, the older files
  // read without it.
  std::map<std::string, uint64_t> unseen;  // databases with no entry in the newest file
  bool cut_failed = false;
  {
    std::unique_lock lk(mu_);
    // A database missing from the map says nothing about the last entry:
    // only one that exists and holds a lower index shows it never committed.
    auto it = last_ && !last_->database.empty() ? db_last_index.find(last_->database)
                                                : db_last_index.end();
    bool known = it != db_last_index.end();
    if (known && it->second < last_->index && current_ && last_->offset >= current_->base) {
      Log(LogLevel::kWarn, "change-stream log: dropped an entry that never committed",
          {{"index", last_->index}, {"database", last_->database}});
      out.dropped = true;
      auto& top = newest_tops_[last_->database];
      top = {top[1], 0};
      cut_failed = !TruncateLocked(last_->offset);
      durable_ = tail_;
    }
    for (const auto& [name, held] : db_last_index) {
      auto top = newest_tops_.find(name);
      if (top == newest_tops_.end() || top->second[0] == 0) unseen.emplace(name, held);
    }
  }
  // Only after a reboot (power loss, a crash of the machine) can a database
  // have lost commits the log kept: after a kill -9 the page cache held both.
  const std::map<std::string, uint64_t> earlier =
      same_boot_ ? std::map<std::string, uint64_t>{} : NewestInEarlierFiles(wal_dir(), unseen);
  {
    std::unique_lock lk(mu_);
    uint64_t log_last = last_ ? last_->index : files_first_index_floor_;
    bool verified = true;
    if (cut_failed) {
      verified = false;
      out.why = "an uncommitted entry could not be cut off";
    }
    if (verified && last_ && !last_->database.empty()) {
      auto held = db_last_index.find(last_->database);
      if (held == db_last_index.end()) {
        verified = false;
        out.why = "the log's last entry (" + std::to_string(last_->index) + ") is of " +
                  last_->database + ", which is missing";
      } else if (held->second < last_->index) {
        verified = false;
        out.why = last_->database + " does not hold index " + std::to_string(last_->index) +
                  ", which the log holds";
      }
    }
    // Every database's newest entry in the newest file, not only the last
    // entry's: a power loss can take one database's last commit (its WAL
    // not synced) while another's, later in the log, stays.
    for (const auto& [name, top] : newest_tops_) {
      auto held = db_last_index.find(name);
      if (verified && top[0] != 0 && held != db_last_index.end() && held->second < top[0]) {
        verified = false;
        out.why = name + " does not hold index " + std::to_string(top[0]) + ", which the log holds";
      }
    }
    for (const auto& [name, index] : earlier) {  // only indexes above what `name` holds
      if (verified) {
        verified = false;
        out.why = name + " does not hold index " + std::to_string(index) + ", which the log holds";
      }
    }
    if (verified) committed_ = tail_;
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

}  // namespace hearth::stream

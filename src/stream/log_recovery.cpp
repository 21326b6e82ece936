// LocalLog's start: recovery of the newest segment at open, the generation
// record, and the check of the log against the databases' own last indexes
// (docs/store.md, "The local log").
#include <fcntl.h>
#include <unistd.h>

#include "base/json.h"
#include "base/log.h"
#include "base/strings.h"
#include "stream/files.h"
#include "stream/log.h"

namespace hearth::stream {

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

}  // namespace hearth::stream

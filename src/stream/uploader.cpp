#include "stream/uploader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "store/backup.h"
#include "stream/files.h"

namespace hearth::stream {
namespace {

constexpr int kL0Level = 3;  // zstd level of L0 segments: fast, they are small
constexpr int64_t kBehindUs = 10'000'000;
constexpr int64_t kFailingUs = 60'000'000;
constexpr int64_t kLogEveryUs = 60'000'000;  // one log line a minute per distinct error
// Caught-up marks: after new entries at most this often, when idle this
// often (each is a PUT and a DELETE).
constexpr int64_t kMarkBusyUs = 10'000'000;
constexpr int64_t kMarkIdleUs = 60'000'000;
// A mark claims a moment this much before the uploader saw the log empty:
// an entry takes its commit time an instant before it is appended, so one
// timed before the mark but not yet appended when the log was read is
// not claimed absent.
constexpr int64_t kMarkSlackUs = 1'000'000;
constexpr int64_t kRemarkUs = 300'000'000;     // hearth-backup.json read again
constexpr int64_t kUpkeepEveryUs = 5'000'000;  // upkeep while never caught up

// One line appended and synced (the bytes index only grows).
Status AppendLine(const std::string& path, const std::string& line) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Error{Errno("cannot open " + path)};
  std::string text = line + "\n";
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            fdatasync(fd) == 0;
  close(fd);
  if (!ok) return Error{Errno("cannot write " + path)};
  return OkStatus();
}

Result<std::vector<std::string>> ReadLines(const std::string& path, bool* missing) {
  std::ifstream in(path);
  if (!in) {
    *missing = errno == ENOENT;
    return Error{Errno("cannot read " + path)};
  }
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool NamesBytes(const store::EntryView& e) {
  for (const auto& op : e.ops)
    if (op.kind == store::OpKind::kBlobPut || op.kind == store::OpKind::kFilePut) return true;
  return false;
}

}  // namespace

std::string UploaderStats::State(int64_t now_us) const {
  // failing_since_us is cleared by every pass that works: this is 60 s of
  // nothing but failures.
  if (failing_since_us != 0 && now_us - failing_since_us >= kFailingUs) return "failing";
  if (lag_entries() > 0 && now_us - caught_up_us > kBehindUs) return "behind";
  return "ok";
}

Uploader::Uploader(LocalLog* log, std::unique_ptr<s3::ObjectStore> target, UploaderOptions options)
    : log_(log), target_(std::move(target)), o_(std::move(options)) {
  stats_.target = target_->Describe();
  bytes_ = o_.bytes ? o_.bytes : store::DataFolderBytes(o_.data_dir);
  if (o_.upkeep) {
    CompactorOptions co = o_.compactor;
    if (!co.pause_at) co.pause_at = o_.pause_at;
    compactor_ = std::make_unique<Compactor>(target_.get(), std::move(co));
  }
}

Status Uploader::PutBytes(const std::string& sha, std::string_view bytes) {
  if (uploaded_bytes_.count(sha)) return OkStatus();
  if (Status s = Put(BytesKey(sha), bytes); !s.ok()) return s;
  return RememberBytes(sha);
}

// After the put: a crash in between puts it again (same key, same bytes),
// never skips it.
Status Uploader::RememberBytes(const std::string& sha) {
  if (Status s = AppendLine(log_->dir() + "/bytes.idx", sha); !s.ok()) return s;
  uploaded_bytes_.insert(sha);
  std::lock_guard lock(mu_);
  stats_.bytes_objects_total++;
  return OkStatus();
}

// The bytes an entry names go up before the segment that names them, so a
// restore that reads the segment finds them.
Status Uploader::ShipBytes(const store::EntryView& e) {
  for (const auto& op : e.ops) {
    std::string sha, what;
    Result<std::string> bytes = Error{""};
    if (op.kind == store::OpKind::kBlobPut) {
      auto put = store::DecodeBlobPut(op.payload);
      if (!put.ok()) return put.error();
      sha = crypto::HexEncode(put->sha256);
      if (uploaded_bytes_.count(sha)) continue;
      what = "blob " + crypto::HexEncode(put->hash) +
             (put->encoding.empty() ? "" : " (" + std::string(put->encoding) + ")");
      bytes = bytes_->Blob(crypto::HexEncode(put->hash), put->encoding);
    } else if (op.kind == store::OpKind::kFilePut) {
      auto put = store::DecodeFilePut(op.payload);
      if (!put.ok()) return put.error();
      sha = crypto::HexEncode(put->sha256);
      if (uploaded_bytes_.count(sha)) continue;
      what = "file " + std::string(put->path) + " of " + std::string(e.database);
      bytes = bytes_->File(e.database, put->path);
    } else {
      continue;
    }
    if (!bytes.ok() || crypto::Sha256Hex(*bytes) != sha) {
      // Gone (a deploy collected, a file replaced) before the uploader got
      // to it: this generation cannot be restored past this entry with its
      // bytes. A new generation starts, with a snapshot that has them.
      {
        std::lock_guard lock(mu_);
        stats_.bytes_missing_total++;
      }
      Log(LogLevel::kWarn, "backup: bytes deleted before upload; starting a new generation",
          {{"entry", static_cast<int64_t>(e.index)}, {"what", what}});
      log_->Break("the bytes of entry " + std::to_string(e.index) + " (" + what +
                  ") were deleted before they were uploaded");
      continue;
    }
    if (Status s = PutBytes(sha, *bytes); !s.ok()) return s;
  }
  return OkStatus();
}

Uploader::~Uploader() {
  Stop();
}

void Uploader::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Uploader::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Uploader::Loop() {
  for (;;) {
    bool stopping;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, o_.every, [this] { return stop_; });
      stopping = stop_;
    }
    (void)RunOnce(stopping);  // failures are counted and logged inside
    if (stopping) return;
  }
}

UploaderStats Uploader::stats() const {
  std::lock_guard lock(mu_);
  UploaderStats s = stats_;
  s.log_index = log_->last_index();
  s.log_time_us = log_->last_time_us();
  return s;
}

void Uploader::Fail(const Status& s) {
  const int64_t now = WallNowMicros();
  bool log_it = false;
  {
    std::lock_guard lock(mu_);
    stats_.failures_total++;
    stats_.last_error = s.error().message;
    if (stats_.failing_since_us == 0) stats_.failing_since_us = now;
    // The message names the object; the error itself is what repeats.
    std::string what = s.error().message;
    if (size_t at = what.find(": "); at != std::string::npos) what = what.substr(at + 2);
    int64_t& last = logged_[what.substr(0, 120)];
    if (now - last >= kLogEveryUs) {
      last = now;
      log_it = true;
    }
    if (logged_.size() > 64) logged_.clear();
  }
  if (log_it)
    Log(LogLevel::kError, "backup: upload failed (retrying; writes go on)",
        {{"target", target_->Describe()}, {"error", s.error().message}});
}

Status Uploader::Put(const std::string& key, std::string_view bytes) {
  Status s = target_->Put(key, bytes);
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  stats_.put_requests_total++;
  stats_.bytes_uploaded_total += bytes.size();
  return s;
}

Status Uploader::PutFile(const std::string& key, const std::string& path) {
  Status s = target_->PutFile(key, path);
  if (!s.ok()) return s;
  struct stat sb;
  std::lock_guard lock(mu_);
  stats_.put_requests_total++;
  if (stat(path.c_str(), &sb) == 0)
    stats_.bytes_uploaded_total += static_cast<uint64_t>(sb.st_size);
  return s;
}

Status Uploader::LoadCursor() {
  bool missing = false;
  auto text = ReadSmallFile(log_->dir() + "/cursor", &missing);
  if (missing) return OkStatus();
  if (!text.ok()) return text.error();
  auto j = ParseJson(*text);
  const std::string bad = log_->dir() + "/cursor is damaged: delete it to upload everything anew";
  if (!j.ok() || !j->is_object()) return Error{bad};
  try {
    if (!ParseHex16(j->at("generation").get<std::string>(), &cursor_.generation)) return Error{bad};
    cursor_.name = j->at("name").get<std::string>();
    cursor_.uploaded_index = j->at("uploaded_index").get<uint64_t>();
    cursor_.uploaded_time_us = j->at("uploaded_time_us").get<int64_t>();
    cursor_.snapshot_index = j->at("snapshot_index").get<uint64_t>();
    cursor_.snapshot_us = j->at("snapshot_us").get<int64_t>();
    cursor_.backup_id = j->value("backup", "");
  } catch (const std::exception&) {
    return Error{bad};
  }
  if (cursor_.generation != 0 && !ParseGenerationName(cursor_.name)) return Error{bad};
  return OkStatus();
}

Status Uploader::SaveCursor() {
  nlohmann::json j = {{"generation", Hex16(cursor_.generation)},
                      {"name", cursor_.name},
                      {"uploaded_index", cursor_.uploaded_index},
                      {"uploaded_time_us", cursor_.uploaded_time_us},
                      {"snapshot_index", cursor_.snapshot_index},
                      {"snapshot_us", cursor_.snapshot_us},
                      {"backup", cursor_.backup_id}};
  Status s = WriteFileDurably(log_->dir(), "cursor", j.dump() + "\n");
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  stats_.generation = cursor_.name;
  stats_.uploaded_index = cursor_.uploaded_index;
  stats_.uploaded_time_us = cursor_.uploaded_time_us;
  if (cursor_.snapshot_us) stats_.last_snapshot_us = cursor_.snapshot_us;
  return s;
}

Status Uploader::EnterGeneration(uint64_t id, int64_t first_time_us, uint64_t first_index) {
  GenerationRecord r;
  r.id = id;
  r.name = GenerationName(id, first_time_us);
  r.node = o_.node_id;
  r.started_us = first_time_us;
  r.first_index = first_index;
  r.hearth = o_.hearth_version;
  r.reason = cursor_.generation == 0    ? "first upload"
             : cursor_.generation == id ? "a new target"
                                        : "the local log started a new generation";
  if (Status s = Put(GenerationRecordKey(r.name), EncodeGenerationRecord(r)); !s.ok()) return s;
  if (id != cursor_.generation) {
    // Another generation's position says nothing of this one's (it may
    // reuse indexes the last one uploaded): nothing of it is up yet.
    cursor_.uploaded_index = first_index - 1;
    cursor_.uploaded_time_us = 0;
  }
  cursor_.generation = id;
  cursor_.name = r.name;
  snapshot_failed_us_ = 0;  // a new generation's snapshot is due at once
  cursor_.snapshot_index = 0;
  cursor_.snapshot_us = 0;
  Log(LogLevel::kInfo, "backup: generation started",
      {{"generation", r.name}, {"first_index", static_cast<int64_t>(first_index)}});
  return SaveCursor();
}

Status Uploader::ShipSegment(const SegmentBuilder& b) {
  auto object = b.Finish(kL0Level);
  if (!object.ok()) return object.error();
  if (o_.pause_at) o_.pause_at("segment");
  if (Status s = Put(SegmentKey(cursor_.name, b.name()), *object); !s.ok()) return s;
  if (o_.pause_at) o_.pause_at("cursor");
  cursor_.uploaded_index = b.info().last;
  cursor_.uploaded_time_us = b.info().t1;
  {
    std::lock_guard lock(mu_);
    stats_.segments_total++;
  }
  return SaveCursor();
}

void Uploader::MarkCaughtUp() {
  if (cursor_.name.empty() || cursor_.generation != log_->generation() || log_->broken()) return;
  const int64_t seen = WallNowMicros();
  if (log_->last_index() > cursor_.uploaded_index) return;  // not caught up
  const int64_t every = cursor_.uploaded_index != caught_up_index_ ? kMarkBusyUs : kMarkIdleUs;
  if (seen - caught_up_put_us_ < every) return;
  const int64_t at = seen - kMarkSlackUs;
  if (at <= cursor_.uploaded_time_us) return;
  const std::string key = CaughtUpKey(cursor_.name, cursor_.uploaded_index, at);
  nlohmann::json j = {{"index", cursor_.uploaded_index}, {"time_us", at}};
  // A failure here costs only the mark: the next pass tries again.
  if (!Put(key, j.dump() + "\n").ok()) return;
  const std::string folder = key.substr(0, key.rfind('/') + 1);
  if (!caught_up_key_.empty()) {
    // Only this generation's: an older one keeps its last mark (its span
    // runs to it).
    if (caught_up_key_.rfind(folder, 0) == 0) (void)target_->Delete(caught_up_key_);
  } else if (auto older = target_->List(folder); older.ok()) {
    // The first mark of this run: the last run's is still there.
    for (const auto& o : *older)
      if (o.key != key) (void)target_->Delete(o.key);
  }
  caught_up_key_ = key;
  caught_up_index_ = cursor_.uploaded_index;
  caught_up_put_us_ = seen;
}

Status Uploader::MarkTarget() {
  // A listing, not a HEAD: a HEAD's refusal has no body, so it could not say
  // why (a wrong secret and a missing bucket would both be a bare 403/404).
  auto listed = target_->List(kBackupMarkerKey);
  if (!listed.ok()) return listed.error();
  bool present = false;
  for (const auto& o : *listed) present = present || o.key == kBackupMarkerKey;
  if (!present) {
    // A listing may lag a put (or miss a key for a moment): a target taken
    // for new would get a new id, and this server would back up everything
    // anew. A HEAD of the key itself is read-after-write.
    auto head = target_->Head(kBackupMarkerKey);
    if (!head.ok()) return head.error();
    present = head->has_value();
  }
  std::string id;
  if (present) {
    auto text = target_->Get(kBackupMarkerKey);
    if (!text.ok()) return text.error();
    auto j = ParseJson(*text);
    if (!j.ok() || !j->is_object() || !j->contains("format") || !(*j)["format"].is_number())
      return Error{target_->Describe() + "/" + std::string(kBackupMarkerKey) +
                   " is not a hearth backup marker"};
    if ((*j)["format"].get<int64_t>() > kBackupFormat)
      return Error{target_->Describe() + " holds a backup of a newer format (" +
                   (*j)["format"].dump() + "): upgrade hearth"};
    if ((*j)["id"].is_string()) id = (*j)["id"].get<std::string>();
  }
  if (id.empty()) {
    // A new target (or one marked before markers had ids: adopted as it is).
    id = crypto::HexEncode(crypto::RandomBytes(8));
    nlohmann::json j = {{"format", kBackupFormat}, {"id", id}};
    if (Status s = Put(std::string(kBackupMarkerKey), j.dump() + "\n"); !s.ok()) return s;
    if (present && cursor_.backup_id.empty()) {
      cursor_.backup_id = id;
      return SaveCursor();
    }
  }
  if (cursor_.backup_id == id) return OkStatus();
  if (cursor_.generation != 0 || !uploaded_bytes_.empty())
    if (Status s = ForgetUploads(cursor_.backup_id.empty()
                                     ? "the target has no backup of this server"
                                     : "the target holds another backup (or was emptied)");
        !s.ok())
      return s;
  cursor_.backup_id = id;
  return SaveCursor();
}

// What was uploaded went to another target: start over on this one. The
// entries the log still holds go up in a generation of their own (named
// anew) from the first one not yet uploaded; its snapshot makes the earlier
// ones unnecessary. Every byte object goes up again when named.
Status Uploader::ForgetUploads(const std::string& why) {
  Log(LogLevel::kWarn, "backup: starting anew on this target",
      {{"target", target_->Describe()}, {"why", why}});
  // bytes.idx first: a crash before the cursor is saved comes back here.
  if (Status s = WriteFileDurably(log_->dir(), "bytes.idx", ""); !s.ok()) return s;
  uploaded_bytes_.clear();
  cursor_.name.clear();
  cursor_.snapshot_index = 0;
  cursor_.snapshot_us = 0;
  snapshot_failed_us_ = 0;
  return OkStatus();
}

UploadedPosition ReadUploadedPosition(const std::string& log_dir) {
  bool missing = false;
  auto text = ReadSmallFile(log_dir + "/cursor", &missing);
  if (!text.ok()) return {};
  auto j = ParseJson(*text);
  UploadedPosition p;
  if (!j.ok() || !j->is_object()) return {};
  try {
    if (!ParseHex16(j->at("generation").get<std::string>(), &p.generation)) return {};
    p.index = j->at("uploaded_index").get<uint64_t>();
  } catch (const std::exception&) {
    return {};
  }
  return p;
}

Status Uploader::ShipEntries() {
  // A newer generation may begin at an index the old one already uploaded
  // (indexes are reused after a log lost its tail): read it from its start,
  // and skip only what the cursor's own generation has uploaded.
  uint64_t from = cursor_.uploaded_index + 1;
  if (cursor_.generation != 0 && log_->generation() != cursor_.generation &&
      log_->generation_first_index() != 0)
    from = std::min(from, log_->generation_first_index());
  SegmentBuilder b(0, cursor_.generation);
  Status failed = OkStatus();
  auto ship = [&]() -> bool {
    if (b.empty()) return true;
    failed = ShipSegment(b);
    b = SegmentBuilder(0, cursor_.generation);
    return failed.ok();
  };
  Status walk = log_->ForEach(from, log_->readable(), [&](const LogEntry& e) {
    if (e.view.generation == cursor_.generation && e.view.index <= cursor_.uploaded_index)
      return true;
    if (cursor_.name.empty() || e.view.generation != cursor_.generation) {
      if (!ship()) return false;
      failed = EnterGeneration(e.view.generation, e.view.commit_time_us, e.view.index);
      if (!failed.ok()) return false;
      b = SegmentBuilder(0, cursor_.generation);
    }
    if (!b.empty() && b.bytes() + e.bytes.size() > o_.max_segment_bytes && !ship()) return false;
    if (NamesBytes(e.view)) {
      failed = ShipBytes(e.view);
      if (!failed.ok()) return false;
    }
    failed = b.Add(e.view, e.bytes);
    return failed.ok();
  });
  if (!failed.ok()) return failed;
  if (!walk.ok()) return walk;
  if (!ship()) return failed;
  return OkStatus();
}

Status Uploader::RunOnce(bool last) {
  std::lock_guard run(run_mu_);
  auto pass = [&]() -> Status {
    if (!loaded_) {
      if (Status s = LoadCursor(); !s.ok()) return s;
      bool missing = false;
      auto idx = ReadLines(log_->dir() + "/bytes.idx", &missing);
      if (!idx.ok() && !missing) return idx.error();
      if (idx.ok())
        for (auto& line : *idx)
          if (crypto::IsSha256Hex(line)) uploaded_bytes_.insert(line);
      loaded_ = true;
      std::lock_guard lock(mu_);
      stats_.generation = cursor_.name;
      stats_.uploaded_index = cursor_.uploaded_index;
      stats_.uploaded_time_us = cursor_.uploaded_time_us;
      stats_.last_snapshot_us = cursor_.snapshot_us;
    }
    // Every few minutes too: a target emptied while the server runs gets a
    // backup of its own again (its old bytes are gone with it).
    if (!marked_ || WallNowMicros() - marked_us_ >= kRemarkUs) {
      if (Status s = MarkTarget(); !s.ok()) return s;
      marked_ = true;
      marked_us_ = WallNowMicros();
    }
    // The log lost entries the target already holds (a power loss took the
    // database's last commit, and recovery cut it from the log too): the
    // next entries would reuse uploaded indexes. A new generation instead.
    if (cursor_.generation != 0 && cursor_.generation == log_->generation() &&
        log_->last_index() < cursor_.uploaded_index && !log_->broken())
      log_->Break("the local log holds less than was uploaded (entry " +
                  std::to_string(cursor_.uploaded_index) + ")");
    if (Status s = ShipEntries(); !s.ok()) return s;
    // A new target and nothing new to ship: the generation starts here, so
    // that its snapshot (below) has a home.
    if (cursor_.name.empty() && cursor_.generation != 0 && cursor_.generation == log_->generation())
      if (Status s =
              EnterGeneration(cursor_.generation, WallNowMicros(), cursor_.uploaded_index + 1);
          !s.ok())
        return s;
    // Files of uploaded entries go whatever happens to the snapshot below.
    if (cursor_.uploaded_index > 0) {
      auto dropped = log_->DropThrough(cursor_.uploaded_index);
      if (!dropped.ok()) return dropped.error();
    }
    // A snapshot of the generation the log is in, once the uploader is in it
    // too: at its start, then every snapshot_every if something changed.
    const int64_t now = WallNowMicros();
    // A failed snapshot is retried after a minute, not every pass.
    // Not while a break is pending: the copies would be discarded (the next
    // write starts a new generation, which gets its own snapshot).
    if (!last && !log_->broken() && cursor_.generation != 0 &&
        cursor_.generation == log_->generation() && now - snapshot_failed_us_ >= 60'000'000 &&
        (cursor_.snapshot_index == 0 ||
         now - cursor_.snapshot_us >=
             std::chrono::duration_cast<std::chrono::microseconds>(o_.snapshot_every).count())) {
      Status s = Snapshot();
      if (!s.ok()) {
        snapshot_failed_us_ = now;
        return s;
      }
    }
    if (!last) MarkCaughtUp();
    return OkStatus();
  };
  Status s = pass();
  if (!s.ok()) {
    Fail(s);
    return s;
  }
  const bool caught_up = log_->last_index() <= cursor_.uploaded_index;
  {
    std::lock_guard lock(mu_);
    stats_.last_success_us = WallNowMicros();
    stats_.failing_since_us = 0;
    if (caught_up) stats_.caught_up_us = stats_.last_success_us;
    stats_.last_error.clear();
  }
  // Upkeep only once nothing waits to go up, one bounded step a pass: it
  // never holds back new entries by more than that step.
  // Under steady writes a pass rarely ends with nothing behind it: then
  // every few seconds anyway (one step is bounded; the lag it adds, too).
  if (!last && compactor_ && !log_->broken() &&
      (caught_up || WallNowMicros() - upkeep_us_ >= kUpkeepEveryUs ||
       upkeep_us_ > WallNowMicros())) {
    upkeep_us_ = WallNowMicros();
    Upkeep();
  }
  return s;
}

void Uploader::Upkeep() {
  const int64_t now = WallNowMicros();
  if (upkeep_failed_us_ != 0 && now - upkeep_failed_us_ < 60'000'000) return;
  auto did = compactor_->Step(cursor_.name, now, [this](const std::vector<std::string>& shas) {
    return ForgetBytes(shas);
  });
  upkeep_failed_us_ = did.ok() ? 0 : now;
  bool log_it = false;
  {
    std::lock_guard lock(mu_);
    stats_.upkeep = compactor_->stats();
    if (!did.ok()) {
      stats_.upkeep_failures_total++;
      int64_t& last = logged_["upkeep: " + did.error().message.substr(0, 120)];
      if (now - last >= kLogEveryUs) {
        last = now;
        log_it = true;
      }
    }
  }
  if (log_it)
    Log(LogLevel::kError, "backup: compaction or retention failed (retrying; uploads go on)",
        {{"target", target_->Describe()}, {"error", did.error().message}});
}

Status Uploader::ForgetBytes(const std::vector<std::string>& shas) {
  for (const auto& sha : shas) uploaded_bytes_.erase(sha);
  std::string text;
  for (const auto& sha : uploaded_bytes_) text += sha + "\n";
  return WriteFileDurably(log_->dir(), "bytes.idx", text);
}

}  // namespace hearth::stream

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
#include "store/backup.h"
#include "stream/files.h"

namespace hearth::stream {
namespace {

constexpr int kL0Level = 3;        // zstd level of L0 segments: fast, they are small
constexpr int kSnapshotLevel = 3;  // databases: mostly pages of text and numbers
constexpr int64_t kBehindUs = 10'000'000;
constexpr int64_t kFailingUs = 60'000'000;
constexpr int64_t kLogEveryUs = 60'000'000;  // one log line a minute per distinct error

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
  if (o_.upkeep) compactor_ = std::make_unique<Compactor>(target_.get(), o_.compactor);
}

Status Uploader::PutBytes(const std::string& sha, std::string_view bytes) {
  if (uploaded_bytes_.count(sha)) return OkStatus();
  if (Status s = Put(BytesKey(sha), bytes); !s.ok()) return s;
  // Remembered after the put: a crash in between puts it again (same key,
  // same bytes), never skips it.
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
  } catch (const std::exception&) {
    return Error{bad};
  }
  if (cursor_.generation != 0 && !ParseGenerationName(cursor_.name)) return Error{bad};
  return OkStatus();
}

Status Uploader::SaveCursor() {
  nlohmann::json j = {
      {"generation", Hex16(cursor_.generation)},  {"name", cursor_.name},
      {"uploaded_index", cursor_.uploaded_index}, {"uploaded_time_us", cursor_.uploaded_time_us},
      {"snapshot_index", cursor_.snapshot_index}, {"snapshot_us", cursor_.snapshot_us}};
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
  r.reason = cursor_.generation == 0 ? "first upload" : "the local log started a new generation";
  if (Status s = Put(GenerationRecordKey(r.name), EncodeGenerationRecord(r)); !s.ok()) return s;
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
  cursor_.uploaded_index = b.info().last;
  cursor_.uploaded_time_us = b.info().t1;
  {
    std::lock_guard lock(mu_);
    stats_.segments_total++;
  }
  return SaveCursor();
}

Status Uploader::Snapshot() {
  const uint64_t generation = cursor_.generation;
  // Every entry before the log's last was committed before this point (the
  // sequencer appends the next only after the previous COMMIT), so the
  // copies hold them all; the last, and all after, may be missing.
  const uint64_t from = std::max<uint64_t>(log_->last_index(), 1);
  const int64_t taken = WallNowMicros();
  const uint64_t breaks = log_->breaks();
  const std::string tmp = log_->dir() + "/tmp";
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  std::filesystem::create_directories(tmp + "/apps", ec);
  if (ec) return Error{"cannot make " + tmp + ": " + ec.message()};
  struct Db {
    std::string name, src, copy;
    store::SnapshotInfo info;
  };
  std::vector<Db> dbs;
  dbs.push_back({"hearth.db", o_.data_dir + "/hearth.db", tmp + "/hearth.db", {}});
  for (const auto& app : store::AppDatabases(o_.data_dir))
    dbs.push_back({app.name, app.path, tmp + "/" + app.name, {}});
  Manifest m;
  m.generation = cursor_.name;
  m.from_index = from;
  m.taken_us = taken;
  m.hearth = o_.hearth_version;
  for (auto& d : dbs) {
    auto info = store::SnapshotDatabase(d.src, d.copy);
    if (!info.ok()) return Error{"snapshot of " + d.name + ": " + info.error().message};
    d.info = *info;
    m.index = std::max(m.index, info->last_index);
    m.time_us = std::max(m.time_us, info->last_time_us);
    // New entries keep going up between the snapshot's steps, so a long
    // snapshot does not hold back the recovery point.
    if (Status s = ShipEntries(); !s.ok()) return s;
  }
  // The stream broke while copying: these copies belong to no generation's
  // entries. The next pass starts the new generation with its own.
  if (log_->generation() != generation || log_->breaks() != breaks || log_->broken() ||
      cursor_.generation != generation)
    return OkStatus();
  if (cursor_.snapshot_index != 0 && m.index == cursor_.snapshot_index) {
    cursor_.snapshot_us = taken;  // nothing changed since the last one
    std::filesystem::remove_all(tmp, ec);
    return SaveCursor();
  }
  const std::string folder = SnapshotFolderKey(cursor_.name, m.index, m.time_us);
  for (auto& d : dbs) {
    SnapshotDatabase x;
    x.name = d.name;
    x.key = SnapshotDatabaseKey(folder, d.name);
    x.size = d.info.size;
    x.last_index = d.info.last_index;
    x.digest = d.info.digest;
    const std::string packed = d.copy + ".zst";
    if (Status s = CompressFile(d.copy, packed, kSnapshotLevel, &x.sha256); !s.ok()) return s;
    if (Status s = ShipEntries(); !s.ok()) return s;
    unlink(d.copy.c_str());
    if (Status s = PutFile(x.key, packed); !s.ok()) return s;
    unlink(packed.c_str());
    m.databases.push_back(std::move(x));
  }
  // The record files, listed after the copies (a stored file never changes
  // in place, so every file the copies name is there; one deleted meanwhile
  // is simply not listed), their bytes up first.
  const std::string files_dir = o_.data_dir + "/files";
  if (std::filesystem::is_directory(files_dir, ec)) {
    for (auto it = std::filesystem::recursive_directory_iterator(files_dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
      const std::string rel =
          "files/" + std::filesystem::relative(it->path(), files_dir, ec).string();
      if (!store::SafeExtraName(rel)) continue;  // a temporary file, not a record's
      std::ifstream in(it->path(), std::ios::binary);
      if (!in) continue;  // deleted since it was listed
      std::string bytes((std::istreambuf_iterator<char>(in)), {});
      SnapshotFile f{rel, bytes.size(), crypto::Sha256Hex(bytes)};
      if (Status s = PutBytes(f.sha256, bytes); !s.ok()) return s;
      m.files.push_back(std::move(f));
      if (m.files.size() % 256 == 0)
        if (Status s = ShipEntries(); !s.ok()) return s;
    }
    if (ec) return Error{"cannot list " + files_dir + ": " + ec.message()};
  }
  // The manifest last, and only once the target holds every entry the
  // copies hold (they were copied one after another, so only the entries up
  // to the newest make them one consistent state): a restore from it never
  // stops short of that.
  for (int i = 0; cursor_.uploaded_index < m.index; ++i) {
    if (Status s = ShipEntries(); !s.ok()) return s;
    if (cursor_.uploaded_index >= m.index) break;
    if (i == 100)
      return Error{"the entries of the snapshot at " + std::to_string(m.index) +
                   " are not durable in the local log yet"};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // The stream broke meanwhile: the copies belong to the old generation,
  // and the new one needs a snapshot of its own.
  if (cursor_.generation != generation || log_->breaks() != breaks || log_->broken())
    return OkStatus();
  if (o_.pause_at) o_.pause_at("snapshot");
  if (Status s = Put(SnapshotManifestKey(folder), EncodeManifest(m)); !s.ok()) return s;
  std::filesystem::remove_all(tmp, ec);
  cursor_.snapshot_index = m.index;
  cursor_.snapshot_us = taken;
  {
    std::lock_guard lock(mu_);
    stats_.snapshots_total++;
  }
  Log(LogLevel::kInfo, "backup: snapshot uploaded",
      {{"generation", cursor_.name},
       {"index", static_cast<int64_t>(m.index)},
       {"databases", static_cast<int64_t>(m.databases.size())}});
  return SaveCursor();
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
    if (!marked_) {
      // Put, not checked with a HEAD first: a HEAD's refusal has no body,
      // so it could not say why (a wrong secret and a missing bucket would
      // both be a bare 403/404).
      nlohmann::json j = {{"format", kBackupFormat}};
      if (Status s = Put(std::string(kBackupMarkerKey), j.dump() + "\n"); !s.ok()) return s;
      marked_ = true;
    }
    // The log lost entries the target already holds (a power loss took the
    // database's last commit, and recovery cut it from the log too): the
    // next entries would reuse uploaded indexes. A new generation instead.
    if (cursor_.generation != 0 && cursor_.generation == log_->generation() &&
        log_->last_index() < cursor_.uploaded_index && !log_->broken())
      log_->Break("the local log holds less than was uploaded (entry " +
                  std::to_string(cursor_.uploaded_index) + ")");
    if (Status s = ShipEntries(); !s.ok()) return s;
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
  if (!last && compactor_ && caught_up && !log_->broken()) Upkeep();
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

// The uploader's snapshots (stream/uploader.h): every database copied with
// the online backup API, compressed and put, the record files' bytes put, the
// manifest last. Apart from uploader.cpp because it is the one long step a
// pass can take; new entries keep going up between its steps.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/hash.h"
#include "store/backup.h"
#include "stream/files.h"
#include "stream/uploader.h"

namespace hearth::stream {
namespace {

constexpr int kSnapshotLevel = 3;  // databases: mostly pages of text and numbers

}  // namespace

Status Uploader::Snapshot() {
  const uint64_t generation = cursor_.generation;
  // Every entry before the log's last was committed before this point (the
  // sequencer appends the next only after the previous COMMIT), so the
  // copies hold them all; the last, and all after, may be missing.
  // When the last was already uploaded it was committed too (only committed
  // entries are read): the copies then hold it, and replay starts after it
  // (a generation begun on a new target may not hold it in its segments).
  const uint64_t last = log_->last_index();
  const uint64_t from = cursor_.uploaded_index >= last && log_->generation() == cursor_.generation
                            ? last + 1
                            : std::max<uint64_t>(last, 1);
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
  // The record files, listed before the copies: a restore replays the file
  // ops of every entry from `from` on (also those the copies already hold),
  // so a file put or removed after this listing is right whatever the
  // restore's point. Each goes up from a hard link (a stored file never
  // changes in place; the link keeps it while it is read, even if a write
  // removes it meanwhile), hashed in blocks, never whole in memory.
  if (Status s = SnapshotFiles(&m); !s.ok()) return s;
  if (o_.pause_at) o_.pause_at("snapshot-files");
  std::vector<Db> copied;
  for (auto& d : dbs) {
    auto info = store::SnapshotDatabase(d.src, d.copy);
    // A site deleted since the listing: nothing to keep of it.
    if (!info.ok() && access(d.src.c_str(), F_OK) != 0 && errno == ENOENT) continue;
    if (!info.ok()) return Error{"snapshot of " + d.name + ": " + info.error().message};
    // A site's database still being made (no stream table yet): the entry
    // that makes it comes after `from`, and a restore builds it from that.
    if (!info->streamed && d.name != "hearth.db") continue;
    d.info = *info;
    m.index = std::max(m.index, info->last_index);
    m.time_us = std::max(m.time_us, info->last_time_us);
    copied.push_back(std::move(d));
    // New entries keep going up between the snapshot's steps, so a long
    // snapshot does not hold back the recovery point.
    if (Status s = ShipEntries(); !s.ok()) return s;
  }
  dbs = std::move(copied);
  // Every entry before `from` is in the copies, even when the database that
  // held the newest of them is gone: the snapshot's state is at least that.
  if (from > 0) m.index = std::max(m.index, from - 1);
  if (o_.pause_at) o_.pause_at("snapshot-copies");
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

Status Uploader::SnapshotFiles(Manifest* m) {
  const std::string files_dir = o_.data_dir + "/files";
  std::error_code ec;
  if (!std::filesystem::is_directory(files_dir, ec)) return OkStatus();
  return SnapshotFilesIn(files_dir, "files", 0, m);
}

// One folder of files/, depth first; a folder or file removed while it is
// walked (a record or a collection deleted meanwhile) is skipped, not an
// error: the entry that removed it is replayed by a restore anyway.
Status Uploader::SnapshotFilesIn(const std::string& dir, const std::string& rel_dir, int depth,
                                 Manifest* m) {
  namespace fs = std::filesystem;
  if (depth > 8) return OkStatus();  // deeper than any record file's folder
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory)
      return OkStatus();
    return Error{"cannot list " + dir + ": " + ec.message()};
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string rel = rel_dir + "/" + name;
    std::error_code type_ec;
    const fs::file_status st = it->symlink_status(type_ec);
    if (type_ec) continue;  // gone since the folder was read
    if (fs::is_directory(st)) {
      if (Status s = SnapshotFilesIn(it->path().string(), rel, depth + 1, m); !s.ok()) return s;
      continue;
    }
    if (!fs::is_regular_file(st) || !store::SafeExtraName(rel)) continue;  // a temporary file
    if (Status s = PutRecordFile(it->path().string(), rel, m); !s.ok()) return s;
    if (m->files.size() % 256 == 0)
      if (Status s = ShipEntries(); !s.ok()) return s;
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    return Error{"cannot list " + dir + ": " + ec.message()};
  return OkStatus();
}

// One record file: linked (or, on another file system, copied) into log/tmp
// first, so that what is hashed is what is put even if a write removes the
// file meanwhile (a stored file never changes in place); hashed in blocks.
Status Uploader::PutRecordFile(const std::string& path, const std::string& rel, Manifest* m) {
  const std::string held = log_->dir() + "/tmp/file.held";
  unlink(held.c_str());
  if (::link(path.c_str(), held.c_str()) != 0) {
    if (errno == ENOENT) return OkStatus();  // removed since it was listed
    std::error_code ec;
    std::filesystem::copy_file(path, held, ec);
    if (ec == std::errc::no_such_file_or_directory) return OkStatus();
    if (ec) return Error{"cannot read " + rel + ": " + ec.message()};
  }
  int fd = open(held.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Error{Errno("cannot read " + rel)};
  crypto::Sha256 hash;
  uint64_t size = 0;
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      unlink(held.c_str());
      return Error{Errno("cannot read " + rel)};
    }
    hash.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    size += static_cast<uint64_t>(n);
  }
  close(fd);
  SnapshotFile f{rel, size, hash.HexDigest()};
  Status s = OkStatus();
  if (!uploaded_bytes_.count(f.sha256)) {
    s = PutFile(BytesKey(f.sha256), held);
    if (s.ok()) s = RememberBytes(f.sha256);
  }
  unlink(held.c_str());
  if (!s.ok()) return s;
  m->files.push_back(std::move(f));
  return OkStatus();
}

}  // namespace hearth::stream

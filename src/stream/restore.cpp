#include "stream/restore.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "store/apply_bytes.h"
#include "store/backup.h"
#include "store/durable_file.h"
#include "store/entry.h"
#include "store/image.h"
#include "store/sqlite.h"
#include "store/store.h"
#include "stream/files.h"

namespace hearth::stream {
namespace {

namespace fs = std::filesystem;

// A database file restore may write: the names the stream uses, nothing that
// climbs out of the folder (DecodeManifest checked it too).
Status CheckName(const std::string& name) {
  if (!store::IsEntryDatabaseName(name)) return Error{"a database named \"" + name + "\""};
  return OkStatus();
}

// Blob rows an entry made with zeroed bytes (deferred) get theirs from the
// target's bytes/ objects, each checked against its SHA-256. Rows a later
// entry deleted are not there any more and cost nothing.
Status FillBlobs(s3::ObjectStore& target, const std::string& db_path,
                 const std::vector<store::PendingBytes>& blobs) {
  auto c = store::Connection::Open(db_path, store::Connection::Mode::kReadWrite);
  if (!c.ok()) return c.error();
  for (const auto& p : blobs) {
    const char* table = p.encoding.empty() ? "blobs" : "blob_variants";
    auto q = (*c)->Prepare(p.encoding.empty()
                               ? "SELECT rowid, length(data) FROM blobs WHERE hash = ?1"
                               : "SELECT rowid, length(data) FROM blob_variants WHERE hash = ?1 "
                                 "AND encoding = ?2");
    if (!q.ok()) return q.error();
    q->Bind(1, p.hash);
    if (!p.encoding.empty()) q->Bind(2, p.encoding);
    Status s = OkStatus();
    if (!q->Step(&s)) {
      if (!s.ok()) return s;
      continue;  // deleted later
    }
    const int64_t rowid = q->Int(0);
    const uint64_t size = static_cast<uint64_t>(q->Int(1));
    q->Reset();
    const std::string sha = crypto::HexEncode(p.sha256);
    auto data = target.Get(BytesKey(sha));
    if (!data.ok()) return Error{"blob " + p.hash + ": " + data.error().message};
    if (crypto::Sha256Hex(*data) != sha || data->size() != size)
      return Error{BytesKey(sha) + " is corrupt: its SHA-256 is not its name"};
    const std::string& d = *data;
    Status filled =
        (*c)->FillBlob(table, "data", rowid, size, [&d](uint64_t off, char* buf, size_t n) {
          std::memcpy(buf, d.data() + off, n);
          return OkStatus();
        });
    if (!filled.ok()) return filled;
  }
  return OkStatus();
}

// Nothing there, or an empty folder (the lock file the CLI takes on it
// aside).
// PRAGMA integrity_check of a restored file (whatever its schema version:
// the restore takes the schema its entries were made with).
Status IntegrityCheck(const std::string& path) {
  auto c = store::Connection::Open(path, store::Connection::Mode::kReadOnly);
  if (!c.ok()) return c.error();
  auto q = (*c)->Prepare("PRAGMA integrity_check");
  if (!q.ok()) return Error{path + ": " + q.error().message};
  Status s = OkStatus();
  std::string result = q->Step(&s) ? std::string(q->Text(0)) : s.ok() ? "" : s.error().message;
  if (result != "ok") return Error{path + " failed its integrity check: " + result};
  return OkStatus();
}

// The last entry a restored copy says it holds (its _hearth_stream row).
Result<uint64_t> StoredLastIndex(const std::string& path) {
  auto c = store::Connection::Open(path, store::Connection::Mode::kReadOnly);
  if (!c.ok()) return c.error();
  auto q = (*c)->Prepare("SELECT last_index FROM _hearth_stream WHERE one = 1");
  if (!q.ok()) return Error{path + " has no stream position: " + q.error().message};
  Status s = OkStatus();
  if (!q->Step(&s)) return Error{path + " has no stream position"};
  return static_cast<uint64_t>(q->Int(0));
}

// The record files an entry puts and removes, whether or not its database
// still needed it (the snapshot's file list was taken before its copies, so
// the entries the copies already hold still move files).
Status TrackFiles(const store::EntryView& e, std::map<std::string, std::string>* files) {
  const std::string root = store::FilesFolderOf(std::string(e.database)) + "/";
  for (const auto& op : e.ops) {
    if (op.kind == store::OpKind::kFilePut) {
      auto put = store::DecodeFilePut(op.payload);
      if (!put.ok()) return put.error();
      (*files)[root + std::string(put->path)] = crypto::HexEncode(put->sha256);
    } else if (op.kind == store::OpKind::kFileDelete) {
      files->erase(root + std::string(op.payload));
    } else if (op.kind == store::OpKind::kFileDeleteTree) {
      const std::string prefix = root + std::string(op.payload) + "/";
      for (auto f = files->lower_bound(prefix);
           f != files->end() && f->first.compare(0, prefix.size(), prefix) == 0;)
        f = files->erase(f);
    }
  }
  return OkStatus();
}

bool EmptyOrMissing(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  if (!fs::is_directory(dir, ec)) return false;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename() != "hearth.lock") return false;
  return !ec;
}

}  // namespace

Result<RestoreResult> Restore(s3::ObjectStore& target, const RestoreOptions& o) {
  auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  std::string dest = o.data_dir;
  while (dest.size() > 1 && dest.back() == '/') dest.pop_back();  // "dir/" is dir
  if (dest.empty()) return Error{"no data folder to restore into"};
  if (!EmptyOrMissing(dest) && !o.force)
    return Error{"data folder " + dest +
                 " is not empty: restore into a new folder, or pass --force to move it aside"};

  auto listing = target.List("");
  if (!listing.ok()) return listing.error();
  BackupView view = ReadListing(*listing);
  auto start = ChooseStart(view, o.target);
  if (!start.ok()) return start.error();
  const GenerationView& gen = *start->generation;
  RestoreResult result;
  result.generation = gen.name;
  result.snapshot_index = start->snapshot.index;

  auto manifest_text = target.Get(SnapshotManifestKey(start->snapshot.folder));
  if (!manifest_text.ok()) return manifest_text.error();
  auto manifest = DecodeManifest(*manifest_text);
  if (!manifest.ok())
    return Error{SnapshotManifestKey(start->snapshot.folder) + ": " + manifest.error().message};
  if (manifest->generation != gen.name || manifest->index != start->snapshot.index)
    return Error{SnapshotManifestKey(start->snapshot.folder) + " does not match its name"};
  // The entries it needs, before fetching anything big: a hole is refused
  // at once.
  auto plan = PlanSegments(gen, manifest->from_index, o.target);
  if (!plan.ok()) return plan.error();

  const std::string work = dest + ".restoring";
  std::error_code ec;
  fs::remove_all(work, ec);  // a restore killed earlier
  fs::create_directories(work + "/apps", ec);
  if (ec) return Error{"cannot make " + work + ": " + ec.message()};
  auto fail = [&](const Error& e) -> Result<RestoreResult> {
    std::error_code ignored;
    fs::remove_all(work, ignored);
    return e;
  };

  say("snapshot " + start->snapshot.folder + " (entry " + std::to_string(manifest->index) + ", " +
      FormatTime(manifest->time_us) + ")");
  for (const auto& d : manifest->databases) {
    if (Status s = CheckName(d.name); !s.ok()) return fail(s.error());
    // Only the object the snapshot's own folder holds for that name.
    if (d.key != SnapshotDatabaseKey(start->snapshot.folder, d.name))
      return fail(Error{SnapshotManifestKey(start->snapshot.folder) + " points " + d.name +
                        " outside its snapshot"});
    const std::string path = work + "/" + d.name;
    if (Status s = target.GetToFile(d.key, path + ".zst"); !s.ok()) return fail(s.error());
    std::string sha;
    // No bigger than the manifest says (a bomb stops there).
    Status s = DecompressFile(path + ".zst", path, d.size, &sha);
    unlink((path + ".zst").c_str());
    if (!s.ok()) return fail(Error{d.key + ": " + s.error().message});
    if (sha != d.sha256)
      return fail(Error{d.key + " is corrupt: its SHA-256 is not the manifest's"});
    // The copy holds the entries the manifest says: replay starts from
    // there, so a copy that says otherwise would skip or double entries.
    auto held = StoredLastIndex(path);
    if (!held.ok()) return fail(Error{d.key + ": " + held.error().message});
    if (*held != d.last_index)
      return fail(Error{d.key + " holds entries through " + std::to_string(*held) +
                        ", its manifest says " + std::to_string(d.last_index)});
    if (d.last_index > manifest->index)
      return fail(Error{SnapshotManifestKey(start->snapshot.folder) + " says " + d.name +
                        " holds entry " + std::to_string(d.last_index) +
                        ", after the snapshot's own index"});
  }
  // Every entry before from_index was committed before the copies began.
  if (manifest->index + 1 < manifest->from_index)
    return fail(Error{SnapshotManifestKey(start->snapshot.folder) + " is inconsistent: index " +
                      std::to_string(manifest->index) + " is before its first entry " +
                      std::to_string(manifest->from_index)});

  // Bare stores (no migrations, no stream): entries apply as they were made.
  // Their byte ops are deferred: fetched once, at the end, for what is left.
  struct Db {
    std::unique_ptr<store::Store> store;
    store::ApplyOptions apply;
  };
  std::map<std::string, Db> dbs;
  auto open_db = [&](const std::string& name) -> Status {
    store::Store::Options so;
    so.path = work + "/" + name;
    so.name = name;
    so.as_found = true;
    auto st = store::Store::Open(std::move(so));
    if (!st.ok()) return Error{name + ": " + st.error().message};
    Db& d = dbs[name];
    d.store = std::move(st).value();
    d.apply.bytes = store::ApplyOptions::Bytes::kDeferred;
    d.apply.deferred = std::make_shared<std::vector<store::PendingBytes>>();
    if (name != "hearth.db") d.apply.files_root = work + "/" + store::FilesFolderOf(name);
    return OkStatus();
  };
  for (const auto& d : manifest->databases)
    if (Status s = open_db(d.name); !s.ok()) return fail(s.error());
  // The record files as of the snapshot, then as the entries change them.
  std::map<std::string, std::string> files;  // "files/<site>/..." -> sha256 hex
  for (const auto& f : manifest->files) files[f.path] = f.sha256;
  result.index = manifest->index;
  result.time_us = manifest->time_us;
  bool stop = false;
  uint64_t applied_through = 0;
  for (const auto& ref : plan->segments) {
    if (stop) break;
    // Through a file: a segment may be larger than one answer held in memory.
    const std::string seg_path = work + "/segment.tmp";
    if (Status s = target.GetToFile(ref.key, seg_path); !s.ok()) return fail(s.error());
    std::string object;
    {
      std::ifstream in(seg_path, std::ios::binary);
      object.assign(std::istreambuf_iterator<char>(in), {});
    }
    unlink(seg_path.c_str());
    auto seg = OpenSegment(object, ref.name);
    if (seg.ok() && seg->info.generation != gen.parts.id)
      seg = Error{"it belongs to another generation"};
    if (!seg.ok()) return fail(Error{"segment " + ref.key + " is corrupt: " + seg.error().message});
    for (std::string_view bytes : seg->entries) {
      auto e = store::DecodeEntry(bytes);
      if (!e.ok()) return fail(Error{"segment " + ref.key + ": " + e.error().message});
      if (e->index < manifest->from_index) continue;  // the snapshot holds it
      // Segments of two levels may overlap (a compaction cut short): each
      // entry once.
      if (e->index <= applied_through) continue;
      applied_through = e->index;
      if (o.target.kind == RestoreTarget::kIndex && e->index > o.target.index) {
        stop = true;
        break;
      }
      if (o.target.kind == RestoreTarget::kTime && e->commit_time_us > o.target.time_us) {
        stop = true;
        break;
      }
      const std::string name(e->database);
      auto it = dbs.find(name);
      if (e->kind == store::EntryKind::kCreateDatabase) {
        // A database made after the snapshot began: its first state whole.
        // One the snapshot already holds made it before the copy: skipped.
        if (it == dbs.end()) {
          if (Status s = CheckName(name); !s.ok()) return fail(s.error());
          if (Status s = store::WriteDatabaseImage(work + "/" + name, *e); !s.ok())
            return fail(Error{"entry " + std::to_string(e->index) + ": " + s.error().message});
          if (Status s = open_db(name); !s.ok()) return fail(s.error());
          result.entries++;
        }
      } else {
        if (it == dbs.end())
          return fail(Error{"entry " + std::to_string(e->index) + " names " + name +
                            ", which neither the snapshot nor an earlier entry makes"});
        Status s =
            it->second.store->Apply(std::make_shared<const std::string>(bytes), it->second.apply);
        if (!s.ok())
          return fail(Error{"entry " + std::to_string(e->index) + ": " + s.error().message});
        if (name != "hearth.db")
          if (Status t = TrackFiles(*e, &files); !t.ok())
            return fail(Error{"entry " + std::to_string(e->index) + ": " + t.error().message});
        result.entries++;
      }
      if (e->index > result.index) {
        result.index = e->index;
        result.time_us = e->commit_time_us;
      }
    }
  }
  // The blobs the entries put, and are still there, get their bytes.
  std::vector<store::PendingBytes> blobs;
  if (auto it = dbs.find("hearth.db"); it != dbs.end())
    for (const auto& p : *it->second.apply.deferred)
      if (p.kind == store::OpKind::kBlobPut) blobs.push_back(p);
  // Stop the writers before the files are filled, checked and moved.
  for (auto& [name, d] : dbs) d.store->StopWrites();
  dbs.clear();
  if (o.target.kind == RestoreTarget::kIndex && result.index < o.target.index &&
      o.target.index > plan->last_index)
    return fail(Error{"entry " + std::to_string(o.target.index) + " is not in the backup"});
  // The snapshot's copies are one state only with the entries up to its
  // newest applied (the uploader puts the manifest after them; a backup
  // that lacks them anyway is refused, never restored half-consistent).
  if (!stop && plan->last_index < manifest->index)
    return fail(Error{"entries " + std::to_string(plan->last_index + 1) + "–" +
                      std::to_string(manifest->index) + " of the snapshot " +
                      start->snapshot.folder + " are missing from the backup"});
  if (!blobs.empty()) {
    say("bytes: " + std::to_string(blobs.size()) + " blobs");
    if (Status s = FillBlobs(target, work + "/hearth.db", blobs); !s.ok()) return fail(s.error());
  }
  say("bytes: " + std::to_string(files.size()) + " record files");
  for (const auto& [rel, sha] : files) {
    if (!store::SafeExtraName(rel)) return fail(Error{"a record file named \"" + rel + "\""});
    auto data = target.Get(BytesKey(sha));
    if (!data.ok()) return fail(Error{"record file " + rel + ": " + data.error().message});
    if (crypto::Sha256Hex(*data) != sha)
      return fail(Error{BytesKey(sha) + " is corrupt: its SHA-256 is not its name"});
    std::filesystem::create_directories(fs::path(work + "/" + rel).parent_path(), ec);
    if (Status s = store::WriteFileDurably(work + "/" + rel, *data); !s.ok())
      return fail(s.error());
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(work + "/apps", ec))
    if (e.path().extension() == ".db") names.push_back("apps/" + e.path().filename().string());
  names.push_back("hearth.db");
  for (const auto& name : names) {
    const std::string path = work + "/" + name;
    if (Status s = IntegrityCheck(path); !s.ok()) return fail(s.error());
    if (Status s = FsyncPath(path); !s.ok()) return fail(s.error());
  }
  if (Status s = FsyncPath(work + "/apps"); !s.ok()) return fail(s.error());
  if (Status s = FsyncPath(work); !s.ok()) return fail(s.error());

  // Into place: the old folder moved aside whole (or an empty one removed).
  if (fs::exists(dest, ec)) {
    if (EmptyOrMissing(dest)) {
      fs::remove(dest + "/hearth.lock", ec);  // the CLI's lock on it: its inode stays locked
      fs::remove(dest, ec);
    } else {
      std::string aside = dest + ".before-restore-" + std::to_string(WallNowSeconds());
      if (rename(dest.c_str(), aside.c_str()) != 0)
        return fail(Error{Errno("cannot move " + dest + " aside")});
      result.moved_aside = aside;
    }
  }
  if (rename(work.c_str(), dest.c_str()) != 0) return fail(Error{Errno("cannot move " + work)});
  fs::path parent = fs::absolute(dest, ec).parent_path();
  (void)FsyncPath(parent.string());
  return result;
}

std::string DescribeBackup(const BackupView& view) {
  std::string out;
  if (view.generations.empty()) return "no generations\n";
  for (const auto& g : view.generations) {
    out += "generation " + g.name + (g.has_record ? "" : " (no generation.json)") + "\n";
    auto span = g.Restorable();
    if (span)
      out += "  restorable: " + FormatTime(span->t0) + " – " + FormatTime(span->t1) + " (entries " +
             std::to_string(span->first) + "–" + std::to_string(span->last) + ")\n";
    else
      out += "  not restorable: no complete snapshot\n";
    for (const auto& s : g.snapshots)
      out += "  snapshot at entry " + std::to_string(s.index) + ", " + FormatTime(s.time_us) +
             (s.complete ? "" : " (incomplete: no manifest)") + "\n";
    for (size_t i = 0; i < g.covered.size(); ++i) {
      const Covered& c = g.covered[i];
      out += "  entries " + std::to_string(c.first) + "–" + std::to_string(c.last) + ", " +
             FormatTime(c.t0) + " – " + FormatTime(c.t1) + "\n";
      if (i + 1 < g.covered.size())
        out += "  MISSING entries " + std::to_string(c.last + 1) + "–" +
               std::to_string(g.covered[i + 1].first - 1) + "\n";
    }
  }
  return out;
}

std::string DescribeBackupJson(const BackupView& view) {
  nlohmann::json gens = nlohmann::json::array();
  for (const auto& g : view.generations) {
    nlohmann::json snaps = nlohmann::json::array();
    for (const auto& s : g.snapshots)
      snaps.push_back(
          {{"index", s.index}, {"time", FormatTime(s.time_us)}, {"complete", s.complete}});
    nlohmann::json ranges = nlohmann::json::array();
    for (const auto& c : g.covered)
      ranges.push_back({{"first", c.first},
                        {"last", c.last},
                        {"from", FormatTime(c.t0)},
                        {"to", FormatTime(c.t1)}});
    nlohmann::json one = {{"name", g.name}, {"snapshots", snaps}, {"entries", ranges}};
    if (auto span = g.Restorable())
      one["restorable"] = {{"first", span->first},
                           {"last", span->last},
                           {"from", FormatTime(span->t0)},
                           {"to", FormatTime(span->t1)}};
    gens.push_back(one);
  }
  return nlohmann::json({{"generations", gens}}).dump(2) + "\n";
}

}  // namespace hearth::stream

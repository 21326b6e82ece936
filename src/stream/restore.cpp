#include "stream/restore.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "store/backup.h"
#include "store/entry.h"
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

bool EmptyOrMissing(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  return fs::is_directory(dir, ec) && fs::is_empty(dir, ec);
}

}  // namespace

Result<RestoreResult> Restore(s3::ObjectStore& target, const RestoreOptions& o) {
  auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  const std::string dest = o.data_dir;
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
    const std::string path = work + "/" + d.name;
    if (Status s = target.GetToFile(d.key, path + ".zst"); !s.ok()) return fail(s.error());
    std::string sha;
    Status s = DecompressFile(path + ".zst", path, uint64_t{1} << 42, &sha);
    unlink((path + ".zst").c_str());
    if (!s.ok()) return fail(Error{d.key + ": " + s.error().message});
    if (sha != d.sha256)
      return fail(Error{d.key + " is corrupt: its SHA-256 is not the manifest's"});
  }

  // Bare stores (no migrations, no stream): entries apply as they were made.
  std::map<std::string, std::unique_ptr<store::Store>> stores;
  for (const auto& d : manifest->databases) {
    store::Store::Options so;
    so.path = work + "/" + d.name;
    so.name = d.name;
    so.as_found = true;
    auto st = store::Store::Open(std::move(so));
    if (!st.ok()) return fail(Error{d.name + ": " + st.error().message});
    stores[d.name] = std::move(st).value();
  }
  result.index = manifest->index;
  result.time_us = manifest->time_us;
  bool stop = false;
  for (const auto& ref : plan->segments) {
    if (stop) break;
    auto object = target.Get(ref.key);
    if (!object.ok()) return fail(object.error());
    auto seg = OpenSegment(*object, ref.name);
    if (!seg.ok()) return fail(Error{"segment " + ref.key + " is corrupt: " + seg.error().message});
    for (std::string_view bytes : seg->entries) {
      auto e = store::DecodeEntry(bytes);
      if (!e.ok()) return fail(Error{"segment " + ref.key + ": " + e.error().message});
      if (e->index < manifest->from_index) continue;  // the snapshot holds it
      if (o.target.kind == RestoreTarget::kIndex && e->index > o.target.index) {
        stop = true;
        break;
      }
      if (o.target.kind == RestoreTarget::kTime && e->commit_time_us > o.target.time_us) {
        stop = true;
        break;
      }
      auto it = stores.find(std::string(e->database));
      if (it == stores.end())
        return fail(Error{"entry " + std::to_string(e->index) + " names " +
                          std::string(e->database) + ", which the snapshot does not hold"});
      Status s = it->second->Apply(std::make_shared<const std::string>(bytes));
      if (!s.ok())
        return fail(Error{"entry " + std::to_string(e->index) + ": " + s.error().message});
      result.entries++;
      if (e->index > result.index) {
        result.index = e->index;
        result.time_us = e->commit_time_us;
      }
    }
  }
  // Stop the writers before the files are checked and moved.
  for (auto& [name, st] : stores) st->StopWrites();
  stores.clear();
  if (o.target.kind == RestoreTarget::kIndex && result.index < o.target.index &&
      o.target.index > plan->last_index)
    return fail(Error{"entry " + std::to_string(o.target.index) + " is not in the backup"});
  for (const auto& d : manifest->databases) {
    const std::string path = work + "/" + d.name;
    auto version = store::CheckBackup(path, INT32_MAX);
    if (!version.ok()) return fail(version.error());
    // The stores' WAL is folded back in (the checkpoint on close): one file each.
    unlink((path + "-wal").c_str());
    unlink((path + "-shm").c_str());
    if (Status s = FsyncPath(path); !s.ok()) return fail(s.error());
  }
  if (Status s = FsyncPath(work + "/apps"); !s.ok()) return fail(s.error());
  if (Status s = FsyncPath(work); !s.ok()) return fail(s.error());

  // Into place: the old folder moved aside whole (or an empty one removed).
  if (fs::exists(dest, ec)) {
    if (EmptyOrMissing(dest)) {
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

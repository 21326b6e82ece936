// Retention of a backup target (stream/compactor.h): what the kept snapshots
// and the entries after them need stays, the rest goes, bytes/ by
// mark-and-sweep.
#include <algorithm>
#include <map>
#include <set>

#include "base/log.h"
#include "crypto/encoding.h"
#include "store/entry.h"
#include "stream/compactor.h"

namespace hearth::stream {
namespace {

constexpr size_t kScansPerStep = 64;  // segments read for their bytes/ names per step

std::string GenerationPrefix(const std::string& gen) {
  return "generations/" + gen + "/";
}

}  // namespace

Result<const std::vector<std::string>*> Compactor::NamedBytes(const SegmentRef& s) {
  if (auto it = named_.find(s.key); it != named_.end()) return &it->second;
  auto object = target_->Get(s.key);
  if (!object.ok()) return object.error();
  auto seg = OpenSegment(*object, s.name);
  if (!seg.ok()) return Error{"segment " + s.key + " is corrupt: " + seg.error().message};
  std::vector<std::string> shas;
  for (std::string_view bytes : seg->entries) {
    auto e = store::DecodeEntry(bytes);
    if (!e.ok()) return Error{"segment " + s.key + ": " + e.error().message};
    for (const auto& op : e->ops) {
      if (op.kind == store::OpKind::kBlobPut) {
        auto put = store::DecodeBlobPut(op.payload);
        if (!put.ok()) return put.error();
        shas.push_back(crypto::HexEncode(put->sha256));
      } else if (op.kind == store::OpKind::kFilePut) {
        auto put = store::DecodeFilePut(op.payload);
        if (!put.ok()) return put.error();
        shas.push_back(crypto::HexEncode(put->sha256));
      }
    }
  }
  return &(named_[s.key] = std::move(shas));
}

Result<bool> Compactor::RetainStep(int64_t now_us, const ForgetFn& forget,
                                   const std::string& current) {
  if (o_.retention_us <= 0) return false;
  auto listing = target_->List("");
  if (!listing.ok()) return listing.error();
  BackupView view = ReadListing(*listing);
  // A clock stepped far ahead (a bad RTC, an NTP jump) must not age the
  // whole history out in one run: the target's own clock (the newest
  // object's LastModified; the uploader puts one at least every minute)
  // bounds "now".
  int64_t target_now = 0;
  for (const auto& o : *listing) target_now = std::max(target_now, ParseIsoTime(o.last_modified));
  if (target_now > 0) now_us = std::min(now_us, target_now + int64_t{3600} * 1000000);
  const int64_t cutoff = now_us - o_.retention_us;

  // The anchor: the newest complete snapshot older than the window. With it
  // every moment of the window is restorable; without one, nothing is old
  // enough to go.
  size_t anchor_gen = view.generations.size();
  const SnapshotRef* anchor = nullptr;
  for (size_t i = 0; i < view.generations.size(); ++i)
    for (const auto& s : view.generations[i].snapshots)
      if (s.complete && s.time_us < cutoff) {
        anchor_gen = i;
        anchor = &s;
      }
  uint64_t from_index = 0;
  if (anchor) {
    auto text = target_->Get(SnapshotManifestKey(anchor->folder));
    if (!text.ok()) return text.error();
    auto m = DecodeManifest(*text);
    if (!m.ok()) return Error{SnapshotManifestKey(anchor->folder) + ": " + m.error().message};
    from_index = m->from_index;
  }

  // What goes, by kind. A manifest before the rest of its folder, so a
  // deletion cut short leaves an incomplete snapshot, never a "complete"
  // one without its databases.
  std::vector<std::pair<std::string, uint64_t*>> doomed;
  std::set<std::string> gone_folders, gone_segments;
  std::set<std::string> old_gens;
  for (size_t i = 0; i < anchor_gen && anchor; ++i) {
    // Only one wholly older than the anchor (names sort by their start's
    // wall clock, which a restart may have set back).
    const GenerationView& g = view.generations[i];
    if (g.name == current) continue;  // the one being written: never whole
    int64_t newest = g.parts.started_us;
    for (const auto& s : g.segments) newest = std::max(newest, s.name.t1);
    for (const auto& s : g.snapshots) newest = std::max(newest, s.time_us);
    newest = std::max(newest, g.caught_up_us);
    if (newest < anchor->time_us) old_gens.insert(g.name);
  }
  std::map<std::string, std::vector<const s3::ObjectInfo*>> folders;  // snapshot folder -> objects
  for (const auto& o : *listing) {
    if (o.key.rfind("generations/", 0) != 0) continue;
    size_t slash = o.key.find('/', 12);
    if (slash == std::string::npos) continue;
    const std::string gen = o.key.substr(12, slash - 12);
    if (old_gens.count(gen)) {
      doomed.emplace_back(o.key, &stats_.deleted_generations);
      continue;
    }
    const std::string snaps = GenerationPrefix(gen) + "snapshots/";
    if (o.key.rfind(snaps, 0) == 0) {
      size_t end = o.key.find('/', snaps.size());
      if (end != std::string::npos) folders[o.key.substr(0, end)].push_back(&o);
    }
  }
  for (const auto& g : view.generations) {
    if (old_gens.count(g.name)) continue;
    const bool in_anchor = anchor && g.name == view.generations[anchor_gen].name;
    for (const auto& s : g.snapshots) {
      bool drop = in_anchor && s.index < anchor->index;
      if (!s.complete && !drop) {
        // Left without a manifest (a snapshot that failed or was cut
        // short): once all of it is a day old, it is not being made.
        drop = true;
        for (const s3::ObjectInfo* o : folders[s.folder]) {
          const int64_t t = ParseIsoTime(o->last_modified);
          if (t == 0 || now_us - t < o_.sweep_age_us) drop = false;
        }
      }
      if (!drop) continue;
      gone_folders.insert(s.folder);
      const std::string manifest = SnapshotManifestKey(s.folder);
      for (const s3::ObjectInfo* o : folders[s.folder])
        if (o->key == manifest) doomed.emplace_back(o->key, &stats_.deleted_snapshots);
      for (const s3::ObjectInfo* o : folders[s.folder])
        if (o->key != manifest) doomed.emplace_back(o->key, &stats_.deleted_snapshots);
    }
    if (in_anchor)
      for (const auto& s : g.segments)
        if (s.name.last < from_index) {
          gone_segments.insert(s.key);
          doomed.emplace_back(s.key, &stats_.deleted_segments);
        }
  }
  // Manifests of older generations first too.
  std::stable_partition(doomed.begin(), doomed.end(), [](const auto& d) {
    return d.first.size() >= 14 && d.first.compare(d.first.size() - 14, 14, "/manifest.json") == 0;
  });
  size_t deletes = 0;
  for (const auto& [key, counter] : doomed) {
    if (deletes >= o_.max_deletes) return true;
    if (Status s = target_->Delete(key); !s.ok()) return s.error();
    (*counter)++;
    deletes++;
  }

  // bytes/: marked by every kept manifest's files and every kept segment's
  // puts; swept when unmarked and a day old.
  std::set<std::string> marked;
  size_t scans = 0;
  for (const auto& g : view.generations) {
    if (old_gens.count(g.name)) continue;
    for (const auto& s : g.snapshots) {
      if (!s.complete || gone_folders.count(s.folder)) continue;
      auto text = target_->Get(SnapshotManifestKey(s.folder));
      if (!text.ok()) return text.error();
      auto m = DecodeManifest(*text);
      if (!m.ok()) return Error{SnapshotManifestKey(s.folder) + ": " + m.error().message};
      for (const auto& f : m->files) marked.insert(f.sha256);
    }
    for (const auto& s : g.segments) {
      if (gone_segments.count(s.key)) continue;
      if (!named_.count(s.key) && scans++ >= kScansPerStep) return true;  // more next step
      auto named = NamedBytes(s);
      if (!named.ok()) return named.error();
      marked.insert((*named)->begin(), (*named)->end());
    }
  }
  // The cache holds only what is still there.
  std::set<std::string> keys;
  for (const auto& o : *listing) keys.insert(o.key);
  for (auto it = named_.begin(); it != named_.end();)
    it =
        keys.count(it->first) && !gone_segments.count(it->first) ? std::next(it) : named_.erase(it);
  std::vector<std::string> sweep;
  for (const auto& o : *listing) {
    if (o.key.rfind("bytes/", 0) != 0) continue;
    const std::string sha = o.key.substr(o.key.rfind('/') + 1);
    if (o.key != BytesKey(sha) || marked.count(sha)) continue;
    const int64_t t = ParseIsoTime(o.last_modified);
    if (t == 0 || now_us - t < o_.sweep_age_us) continue;  // perhaps a put in flight
    if (deletes + sweep.size() >= o_.max_deletes) break;
    sweep.push_back(sha);
  }
  // Forgotten before they go: a crash in between costs a second upload of
  // one, never a hash the uploader believes is up when it is not.
  if (!sweep.empty() && forget)
    if (Status s = forget(sweep); !s.ok()) return s.error();
  for (const auto& sha : sweep) {
    if (Status s = target_->Delete(BytesKey(sha)); !s.ok()) return s.error();
    stats_.deleted_bytes++;
    deletes++;
  }
  if (deletes >= o_.max_deletes) return true;
  if (deletes > 0)
    Log(LogLevel::kInfo, "backup: retention deleted old objects",
        {{"objects", static_cast<int64_t>(deletes)}});
  return false;
}

}  // namespace hearth::stream

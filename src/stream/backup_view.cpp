#include "stream/backup_view.h"

#include <algorithm>
#include <ctime>
#include <map>

#include "stream/files.h"

namespace hearth::stream {
namespace {

std::vector<std::string_view> Split(std::string_view key) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t slash = key.find('/');
    parts.push_back(key.substr(0, slash));
    if (slash == std::string_view::npos) break;
    key.remove_prefix(slash + 1);
  }
  return parts;
}

std::string Range(uint64_t a, uint64_t b) {
  return a == b ? std::to_string(a) : std::to_string(a) + "–" + std::to_string(b);
}

std::string Span(const GenerationView& g) {
  auto r = g.Restorable();
  if (!r) return "generation " + g.name + " has no complete snapshot";
  return "generation " + g.name + " covers " + FormatTime(r->t0) + " – " + FormatTime(r->t1) +
         " (entries " + Range(r->first, r->last) + ")";
}

std::string Spans(const BackupView& v) {
  std::string out;
  for (const auto& g : v.generations) out += (out.empty() ? "" : "; ") + Span(g);
  return out.empty() ? "the backup holds no generation" : out;
}

}  // namespace

std::string FormatTime(int64_t unix_us) {
  time_t t = static_cast<time_t>(unix_us / 1000000);
  tm g;
  gmtime_r(&t, &g);
  char buf[48];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &g);
  return buf;
}

std::optional<Covered> GenerationView::Restorable() const {
  const SnapshotRef* first = nullptr;
  for (const auto& s : snapshots)
    if (s.complete) {
      first = &s;
      break;
    }
  if (!first) return {};
  Covered r{first->index, first->index, first->time_us, first->time_us};
  // Entries after the oldest snapshot, as far as they run without a hole.
  for (const auto& c : covered)
    if (c.first <= r.last + 1 && c.last > r.last) {
      r.last = c.last;
      r.t1 = std::max(r.t1, c.t1);
    }
  // A later snapshot past a hole still makes its own point restorable.
  for (const auto& s : snapshots)
    if (s.complete && s.index > r.last) {
      r.last = s.index;
      r.t1 = std::max(r.t1, s.time_us);
      for (const auto& c : covered)
        if (c.first <= r.last + 1 && c.last > r.last) {
          r.last = c.last;
          r.t1 = std::max(r.t1, c.t1);
        }
    }
  // Nothing came after the last entry until the uploader's mark: the
  // moments up to it are that entry's state.
  if (caught_up_index == r.last && caught_up_us > r.t1) r.t1 = caught_up_us;
  return r;
}

BackupView ReadListing(const std::vector<s3::ObjectInfo>& objects) {
  BackupView view;
  std::map<std::string, GenerationView> gens;
  std::map<std::string, SnapshotRef> snaps;  // by folder key
  for (const auto& o : objects) {
    if (o.key == kBackupMarkerKey) {
      view.marked = true;
      continue;
    }
    auto p = Split(o.key);
    if (p[0] != "generations") continue;  // bytes/ and anything else
    auto gp = p.size() >= 3 ? ParseGenerationName(p[1]) : std::nullopt;
    if (!gp) {
      view.unknown.push_back(o.key);
      continue;
    }
    GenerationView& g = gens[std::string(p[1])];
    g.name = p[1];
    g.parts = *gp;
    if (p.size() == 3 && p[2] == "generation.json") {
      g.has_record = true;
    } else if (p.size() >= 5 && p[2] == "snapshots") {
      uint64_t index = 0, time = 0;
      std::string_view folder = p[3];
      if (folder.size() != 33 || folder[16] != '_' || !ParseHex16(folder.substr(0, 16), &index) ||
          !ParseHex16(folder.substr(17), &time)) {
        view.unknown.push_back(o.key);
        continue;
      }
      std::string fkey = SnapshotFolderKey(g.name, index, static_cast<int64_t>(time));
      SnapshotRef& s = snaps[fkey];
      s.index = index;
      s.time_us = static_cast<int64_t>(time);
      s.folder = fkey;
      if (p.size() == 5 && p[4] == "manifest.json") s.complete = true;
    } else if (p.size() == 4 && p[2] == "caught-up") {
      uint64_t index = 0, time = 0;
      if (p[3].size() != 33 || p[3][16] != '_' || !ParseHex16(p[3].substr(0, 16), &index) ||
          !ParseHex16(p[3].substr(17), &time)) {
        view.unknown.push_back(o.key);
        continue;
      }
      if (static_cast<int64_t>(time) > g.caught_up_us) {
        g.caught_up_us = static_cast<int64_t>(time);
        g.caught_up_index = index;
      }
    } else if (p.size() == 5 && p[2] == "segments" && p[3].size() == 2 && p[3][0] == 'L' &&
               p[3][1] >= '0' && p[3][1] <= '2') {
      auto name = ParseSegmentFileName(p[3][1] - '0', p[4]);
      if (!name) {
        view.unknown.push_back(o.key);
        continue;
      }
      g.segments.push_back({*name, o.key, o.size});
    } else {
      view.unknown.push_back(o.key);
    }
  }
  for (auto& [key, s] : snaps) {
    // The folder key starts "generations/<gen>/".
    auto gen = Split(key)[1];
    gens[std::string(gen)].snapshots.push_back(s);
  }
  for (auto& [name, g] : gens) {
    std::sort(g.snapshots.begin(), g.snapshots.end(), [](const auto& a, const auto& b) {
      return a.index != b.index ? a.index < b.index : a.time_us < b.time_us;
    });
    std::sort(g.segments.begin(), g.segments.end(), [](const auto& a, const auto& b) {
      if (a.name.first != b.name.first) return a.name.first < b.name.first;
      if (a.name.last != b.name.last) return a.name.last > b.name.last;
      return a.name.level > b.name.level;
    });
    for (const auto& s : g.segments) {
      if (!g.covered.empty() && s.name.first <= g.covered.back().last + 1) {
        Covered& c = g.covered.back();
        if (s.name.last > c.last) {
          c.last = s.name.last;
          c.t1 = std::max(c.t1, s.name.t1);
        }
      } else {
        g.covered.push_back({s.name.first, s.name.last, s.name.t0, s.name.t1});
      }
    }
    view.generations.push_back(std::move(g));
  }
  // Oldest first. Names sort by their start to the second; two generations
  // of one second (a break right after a start) are told apart by their
  // entries, whose indexes only grow from one generation to the next.
  auto first_index = [](const GenerationView& g) {
    uint64_t first = UINT64_MAX;
    if (!g.segments.empty()) first = g.segments.front().name.first;
    if (!g.snapshots.empty()) first = std::min(first, g.snapshots.front().index);
    return first;
  };
  std::stable_sort(view.generations.begin(), view.generations.end(),
                   [&](const GenerationView& a, const GenerationView& b) {
                     if (a.parts.started_us != b.parts.started_us)
                       return a.parts.started_us < b.parts.started_us;
                     return first_index(a) < first_index(b);
                   });
  return view;
}

Result<RestoreStart> ChooseStart(const BackupView& view, const RestoreTarget& target) {
  if (!view.marked && view.generations.empty())
    return Error{"there is no hearth backup there (no hearth-backup.json, no generations)"};
  // Newest generation first: the one a target falls in, from its newest
  // complete snapshot at or before the target.
  for (auto g = view.generations.rbegin(); g != view.generations.rend(); ++g) {
    auto span = g->Restorable();
    // "Latest" is the newest generation's: an older one would quietly miss
    // every write the newest holds.
    if (!span && target.kind == RestoreTarget::kLatest)
      return Error{"the newest generation, " + g->name +
                   ", has no complete snapshot yet (its first is still being made, or failed): "
                   "restore an earlier point with --at or --index; " +
                   Spans(view)};
    if (!span) continue;
    bool inside = target.kind == RestoreTarget::kLatest ||
                  (target.kind == RestoreTarget::kIndex && target.index >= span->first &&
                   target.index <= span->last) ||
                  (target.kind == RestoreTarget::kTime && target.time_us >= span->t0 &&
                   target.time_us <= span->t1);
    if (!inside) continue;
    const SnapshotRef* best = nullptr;
    for (const auto& s : g->snapshots) {
      if (!s.complete) continue;
      if (target.kind == RestoreTarget::kIndex && s.index > target.index) continue;
      if (target.kind == RestoreTarget::kTime && s.time_us > target.time_us) continue;
      best = &s;  // sorted: the last that fits is the newest
    }
    if (!best) continue;
    return RestoreStart{&*g, *best};
  }
  switch (target.kind) {
    case RestoreTarget::kLatest:
      return Error{"the backup holds no complete snapshot to restore from: " + Spans(view)};
    case RestoreTarget::kIndex:
      return Error{"no backup covers entry " + std::to_string(target.index) + ": " + Spans(view)};
    case RestoreTarget::kTime:
      break;
  }
  return Error{"no backup covers " + FormatTime(target.time_us) + ": " + Spans(view)};
}

Result<SegmentPlan> PlanSegments(const GenerationView& g, uint64_t from,
                                 const RestoreTarget& target) {
  SegmentPlan plan;
  uint64_t next = from;  // the next entry needed
  const auto& segs = g.segments;
  auto done = [&] {
    if (target.kind == RestoreTarget::kIndex) return next > target.index;
    // A time target needs the segment holding the first entry after it (the
    // apply stops there): done once a taken segment ends after the time.
    if (target.kind == RestoreTarget::kTime)
      return !plan.segments.empty() && plan.segments.back().name.t1 > target.time_us;
    return false;
  };
  size_t scan = 0;  // segments are sorted by first index: each is looked at once
  const SegmentRef* best = nullptr;
  while (!done()) {
    // Of the segments holding `next`, the one reaching furthest (largest
    // first: fewer objects to fetch).
    for (; scan < segs.size() && segs[scan].name.first <= next; ++scan)
      if (!best || segs[scan].name.last > best->name.last ||
          (segs[scan].name.last == best->name.last && segs[scan].name.level > best->name.level))
        best = &segs[scan];
    const SegmentRef* pick = best && best->name.last >= next ? best : nullptr;
    if (pick) {
      plan.segments.push_back(*pick);
      next = pick->name.last + 1;
      continue;
    }
    // Nothing holds `next`. Past the end of what was uploaded is the end for
    // "latest" and for a time after the last entry; a segment further on
    // means a hole.
    const SegmentRef* after = scan < segs.size() ? &segs[scan] : nullptr;
    if (!after) {
      if (target.kind == RestoreTarget::kIndex)
        return Error{"entries " + Range(next, target.index) + " are missing from generation " +
                     g.name + " (its segments end at entry " + std::to_string(next - 1) + ")"};
      break;
    }
    const SegmentRef* before = plan.segments.empty() ? nullptr : &plan.segments.back();
    return Error{"entries " + Range(next, after->name.first - 1) + " are missing from generation " +
                 g.name + " (between " + (before ? before->key : std::string("its snapshot")) +
                 " and " + after->key + ")"};
  }
  plan.last_index = next - 1;
  if (target.kind == RestoreTarget::kIndex) plan.last_index = target.index;
  return plan;
}

}  // namespace hearth::stream

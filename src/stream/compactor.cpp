#include "stream/compactor.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>

#include "base/clock.h"
#include "base/log.h"
#include "store/entry.h"

namespace hearth::stream {
namespace {

constexpr int kCompactedZstdLevel = 9;  // read rarely, kept long: smaller is worth the time

// floor(t / w) for any sign (entry times are positive; a test may not be).
int64_t WindowOf(int64_t t, int64_t w) {
  return t >= 0 ? t / w : -((-t + w - 1) / w);
}

}  // namespace

int64_t ParseIsoTime(const std::string& text) {
  return ParseIso8601(text).value_or(0);
}

Status Compactor::Delete(const std::string& key, uint64_t* counter) {
  if (Status s = target_->Delete(key); !s.ok()) return s;
  (*counter)++;
  return OkStatus();
}

Result<bool> Compactor::Step(const std::string& gen, int64_t now_us, const ForgetFn& forget) {
  if (o_.retention_us > 0 && now_us >= next_retain_us_) {
    auto more = RetainStep(now_us, forget, gen);
    if (!more.ok()) {
      // Retried in a minute (or at its usual time, if sooner), not every
      // pass; compaction still gets its step (a retention that keeps failing,
      // on a damaged segment say, must not stop it).
      next_retain_us_ = now_us + std::min<int64_t>(o_.retention_every_us, 60'000'000);
      if (!gen.empty()) (void)CompactStep(gen, now_us);
      return more.error();
    }
    if (!*more) next_retain_us_ = now_us + o_.retention_every_us;
    return true;
  }
  if (gen.empty()) return false;
  return CompactStep(gen, now_us);
}

Result<bool> Compactor::CompactStep(const std::string& gen, int64_t now_us) {
  if (now_us < next_compact_us_) return false;
  auto listing = target_->List("generations/" + gen + "/segments/");
  if (!listing.ok()) return listing.error();
  BackupView view = ReadListing(*listing);
  if (view.generations.empty()) {
    next_compact_us_ = now_us + o_.l1_window_us;
    return false;
  }
  const GenerationView& g = view.generations[0];

  // An earlier step was cut short between its put and its deletes: what a
  // higher level's segment holds whole goes now.
  size_t deleted = 0;
  for (const auto& s : g.segments) {
    for (const auto& h : g.segments) {
      if (h.name.level <= s.name.level || h.name.first > s.name.first || h.name.last < s.name.last)
        continue;
      if (Status st = Delete(s.key, &stats_.deleted_segments); !st.ok()) return st.error();
      deleted++;
      break;
    }
    if (deleted >= o_.max_deletes) break;
  }
  if (deleted > 0) return true;

  int64_t next = now_us + o_.l1_window_us;
  for (int level = 1; level <= 2; ++level) {
    const int64_t w = level == 1 ? o_.l1_window_us : o_.l2_window_us;
    std::map<int64_t, std::vector<const SegmentRef*>> windows;
    std::set<int64_t> waiting;  // windows of this level that still have L0s
    for (const auto& s : g.segments) {
      if (s.name.level == level - 1) windows[WindowOf(s.name.t0, w)].push_back(&s);
      if (level == 2 && s.name.level == 0) waiting.insert(WindowOf(s.name.t0, w));
    }
    for (const auto& [window, run] : windows) {
      const int64_t closes = (window + 1) * w + o_.grace_us;
      if (now_us < closes) {
        next = std::min(next, closes);
        continue;
      }
      // An hour's L0s become L1s first (they are due already, or soon).
      if (waiting.count(window)) continue;
      const std::string id = g.name + " " + std::to_string(level) + " " + std::to_string(window);
      if (skipped_.count(id)) continue;
      // Sorted by first index: a run without a gap, or left alone.
      bool hole = false;
      for (size_t i = 1; i < run.size(); ++i)
        if (run[i]->name.first != run[i - 1]->name.last + 1) hole = true;
      if (hole) {
        skipped_.insert(id);
        stats_.holes_skipped++;
        Log(LogLevel::kWarn, "backup: a compaction window has missing entries; left as it is",
            {{"generation", g.name},
             {"level", static_cast<int64_t>(level)},
             {"first", static_cast<int64_t>(run.front()->name.first)}});
        continue;
      }
      bool damaged = false;
      if (Status s = Compact(g, level, run, &damaged); !s.ok()) {
        if (!damaged) return s.error();  // the target failed: retried later
        // A damaged source: this window stays as it is (restore says which
        // segment is damaged); the others go on.
        skipped_.insert(id);
        Log(LogLevel::kWarn, "backup: compaction skipped a window",
            {{"generation", g.name}, {"error", s.error().message}});
      }
      return true;  // one window a step
    }
  }
  next_compact_us_ = next;
  return false;
}

// The run's first entries, in order, into one segment of `level` of at most
// max_segment_bytes (or one source, if bigger), put before the sources it
// replaces are deleted; the rest of the run is the next step's.
Status Compactor::Compact(const GenerationView& g, int level,
                          const std::vector<const SegmentRef*>& run, bool* damaged) {
  SegmentBuilder b(level, g.parts.id);
  std::vector<const SegmentRef*> sources;
  auto flush = [&]() -> Status {
    if (b.empty()) return OkStatus();
    auto object = b.Finish(kCompactedZstdLevel);
    if (!object.ok()) return object.error();
    if (Status s = target_->Put(SegmentKey(g.name, b.name()), *object); !s.ok()) return s;
    if (o_.pause_at) o_.pause_at("compaction");
    stats_.compactions[level]++;
    for (const SegmentRef* s : sources)
      if (Status st = Delete(s->key, &stats_.deleted_segments); !st.ok()) return st;
    sources.clear();
    b = SegmentBuilder(level, g.parts.id);
    return OkStatus();
  };
  for (const SegmentRef* s : run) {
    auto object = target_->Get(s->key);
    if (!object.ok()) return object.error();
    // Checked whole (header, trailer's SHA-256, every entry's CRCs) before
    // any of it goes into a segment that replaces it.
    auto seg = OpenSegment(*object, s->name);
    if (seg.ok() && seg->info.generation != g.parts.id)
      seg = Error{"it belongs to another generation"};
    *damaged = !seg.ok();
    if (!seg.ok()) return Error{"segment " + s->key + " is corrupt: " + seg.error().message};
    // Full: this one goes up, the rest of the window at the next step (a
    // step reads at most about max_segment_bytes).
    if (!b.empty() && b.bytes() + seg->raw.size() > o_.max_segment_bytes) return flush();
    for (std::string_view bytes : seg->entries) {
      auto e = store::DecodeEntry(bytes);
      *damaged = !e.ok();
      if (!e.ok()) return Error{"segment " + s->key + ": " + e.error().message};
      if (Status st = b.Add(*e, bytes); !st.ok()) {
        *damaged = true;
        return Error{"segment " + s->key + ": " + st.error().message};
      }
    }
    sources.push_back(s);
  }
  return flush();
}

}  // namespace hearth::stream

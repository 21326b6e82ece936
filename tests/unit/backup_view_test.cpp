// What restore makes of a backup target's listing (stream/backup_view.h):
// the generation and snapshot it starts from, the segments it fetches, and
// the exact refusal when the entries it needs have a hole or the target is
// outside every generation.
#include "stream/backup_view.h"

#include <gtest/gtest.h>

namespace hearth::stream {
namespace {

constexpr int64_t kSec = 1000000;
const int64_t kT0 = int64_t{1765101600} * kSec;  // 2025-12-07T10:00:00Z
const std::string kGen = GenerationName(0xabc, kT0);
const std::string kOld = GenerationName(0x111, kT0 - 3600 * kSec);

// A listing built from short descriptions.
struct Listing {
  std::vector<s3::ObjectInfo> objects{{"hearth-backup.json", 10, ""}};
  Listing& Snap(const std::string& gen, uint64_t index, int64_t t, bool complete = true) {
    std::string folder = SnapshotFolderKey(gen, index, t);
    objects.push_back({SnapshotDatabaseKey(folder, "hearth.db"), 100, ""});
    if (complete) objects.push_back({SnapshotManifestKey(folder), 100, ""});
    return *this;
  }
  Listing& Seg(const std::string& gen, int level, uint64_t first, uint64_t last) {
    // Entry i committed at kT0 + i seconds.
    objects.push_back(
        {SegmentKey(gen, {level, first, last, kT0 + static_cast<int64_t>(first) * kSec,
                          kT0 + static_cast<int64_t>(last) * kSec}),
         50, ""});
    return *this;
  }
  BackupView View() const { return ReadListing(objects); }
};

std::vector<std::pair<uint64_t, uint64_t>> Ranges(const SegmentPlan& p) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const auto& s : p.segments) out.emplace_back(s.name.first, s.name.last);
  return out;
}

using R = std::vector<std::pair<uint64_t, uint64_t>>;

TEST(BackupView, ReadsGenerationsSnapshotsAndCoverage) {
  Listing l;
  l.Snap(kGen, 10, kT0 + 10 * kSec).Snap(kGen, 30, kT0 + 30 * kSec, false);
  l.Seg(kGen, 0, 1, 5).Seg(kGen, 0, 6, 12).Seg(kGen, 0, 13, 20).Seg(kGen, 0, 25, 30);
  l.objects.push_back({"generations/" + kGen + "/segments/L0/garbage", 1, ""});
  l.objects.push_back({"bytes/ab/abcd", 1, ""});
  BackupView v = l.View();
  EXPECT_TRUE(v.marked);
  ASSERT_EQ(v.generations.size(), 1u);
  const GenerationView& g = v.generations[0];
  EXPECT_EQ(g.name, kGen);
  ASSERT_EQ(g.snapshots.size(), 2u);
  EXPECT_TRUE(g.snapshots[0].complete);
  EXPECT_FALSE(g.snapshots[1].complete);
  ASSERT_EQ(g.covered.size(), 2u);
  EXPECT_EQ(g.covered[0].first, 1u);
  EXPECT_EQ(g.covered[0].last, 20u);
  EXPECT_EQ(g.covered[1].first, 25u);
  ASSERT_EQ(v.unknown.size(), 1u);
  auto span = g.Restorable();
  ASSERT_TRUE(span);
  EXPECT_EQ(span->first, 10u);
  EXPECT_EQ(span->last, 20u);  // the hole at 21-24 ends what is reachable
}

TEST(BackupView, LatestStartsFromTheNewestCompleteSnapshotAndTakesLargestSegments) {
  Listing l;
  l.Snap(kGen, 4, kT0 + 4 * kSec).Snap(kGen, 10, kT0 + 10 * kSec).Snap(kGen, 40, kT0, false);
  l.Seg(kGen, 0, 1, 5).Seg(kGen, 0, 6, 12).Seg(kGen, 0, 13, 20).Seg(kGen, 1, 6, 20);
  l.Seg(kGen, 0, 21, 22);
  BackupView v = l.View();
  auto start = ChooseStart(v, {});
  ASSERT_TRUE(start.ok()) << start.error().message;
  EXPECT_EQ(start->snapshot.index, 10u);
  auto plan = PlanSegments(*start->generation, 10, {});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(Ranges(*plan), (R{{6, 20}, {21, 22}}));
  EXPECT_EQ(plan->last_index, 22u);
}

TEST(BackupView, AHoleIsAnErrorNamingTheRangeAndTheSegmentsAroundIt) {
  Listing l;
  l.Snap(kGen, 4, kT0 + 4 * kSec);
  l.Seg(kGen, 0, 1, 5).Seg(kGen, 0, 6, 12).Seg(kGen, 0, 15, 20);
  auto plan = PlanSegments(l.View().generations[0], 5, {});
  ASSERT_FALSE(plan.ok());
  const std::string& m = plan.error().message;
  EXPECT_NE(m.find("entries 13–14 are missing from generation " + kGen), std::string::npos) << m;
  EXPECT_NE(m.find("0000000000000006-000000000000000c"), std::string::npos) << m;
  EXPECT_NE(m.find("L0/000000000000000f-0000000000000014"), std::string::npos) << m;
  // A hole right after the snapshot names the snapshot.
  Listing l2;
  l2.Snap(kGen, 4, kT0 + 4 * kSec).Seg(kGen, 0, 8, 9);
  auto plan2 = PlanSegments(l2.View().generations[0], 5, {});
  ASSERT_FALSE(plan2.ok());
  EXPECT_NE(plan2.error().message.find("entries 5–7 are missing"), std::string::npos);
  EXPECT_NE(plan2.error().message.find("its snapshot"), std::string::npos);
}

TEST(BackupView, AnIndexTarget) {
  Listing l;
  l.Snap(kGen, 4, kT0 + 4 * kSec).Snap(kGen, 12, kT0 + 12 * kSec);
  l.Seg(kGen, 0, 1, 5).Seg(kGen, 0, 6, 12).Seg(kGen, 0, 13, 20);
  BackupView v = l.View();
  auto start = ChooseStart(v, {RestoreTarget::kIndex, 15, 0});
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(start->snapshot.index, 12u);
  auto plan = PlanSegments(*start->generation, 12, {RestoreTarget::kIndex, 15, 0});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Ranges(*plan), (R{{6, 12}, {13, 20}}));
  EXPECT_EQ(plan->last_index, 15u);
  // Before the newest snapshot: the older one.
  auto early = ChooseStart(v, {RestoreTarget::kIndex, 8, 0});
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->snapshot.index, 4u);
  // Outside: refused with what exists.
  auto out = ChooseStart(v, {RestoreTarget::kIndex, 21, 0});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("no backup covers entry 21: generation " + kGen +
                                     " covers 2025-12-07T10:00:04Z – 2025-12-07T10:00:20Z "
                                     "(entries 4–20)"),
            std::string::npos)
      << out.error().message;
  EXPECT_FALSE(ChooseStart(v, {RestoreTarget::kIndex, 3, 0}).ok());
}

TEST(BackupView, ATimeTargetTakesTheSegmentHoldingTheFirstEntryAfterIt) {
  Listing l;
  l.Snap(kGen, 4, kT0 + 4 * kSec);
  l.Seg(kGen, 0, 1, 5).Seg(kGen, 0, 6, 12).Seg(kGen, 0, 13, 20).Seg(kGen, 0, 21, 30);
  BackupView v = l.View();
  RestoreTarget t{RestoreTarget::kTime, 0, kT0 + 14 * kSec + 500000};
  auto start = ChooseStart(v, t);
  ASSERT_TRUE(start.ok()) << start.error().message;
  auto plan = PlanSegments(*start->generation, 4, t);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(Ranges(*plan), (R{{1, 5}, {6, 12}, {13, 20}}));
  // A time after the last entry: refused with the range.
  auto late = ChooseStart(v, {RestoreTarget::kTime, 0, kT0 + 31 * kSec});
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().message.find("no backup covers 2025-12-07T10:00:31Z"), std::string::npos)
      << late.error().message;
  // Before the first snapshot: refused too.
  EXPECT_FALSE(ChooseStart(v, {RestoreTarget::kTime, 0, kT0 + 3 * kSec}).ok());
}

TEST(BackupView, AnOlderGenerationServesATimeOnlyItCovers) {
  Listing l;
  l.Snap(kOld, 2, kT0 - 3000 * kSec).Seg(kOld, 0, 3, 9);  // entries at kT0+3..9 s (by Seg's rule)
  l.Snap(kGen, 50, kT0 + 50 * kSec).Seg(kGen, 0, 50, 60);
  BackupView v = l.View();
  ASSERT_EQ(v.generations.size(), 2u);
  EXPECT_EQ(v.generations[0].name, kOld);
  auto old = ChooseStart(v, {RestoreTarget::kTime, 0, kT0 + 5 * kSec});
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old->generation->name, kOld);
  auto latest = ChooseStart(v, {});
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->generation->name, kGen);
}

TEST(BackupView, LatestNeverFallsBackToAnOlderGeneration) {
  Listing l;
  l.Snap(kOld, 2, kT0 - 3000 * kSec).Seg(kOld, 0, 1, 9);
  l.Seg(kGen, 0, 10, 20);  // the newest: entries, no snapshot yet
  BackupView v = l.View();
  auto latest = ChooseStart(v, {});
  ASSERT_FALSE(latest.ok());
  EXPECT_NE(
      latest.error().message.find("the newest generation, " + kGen + ", has no complete snapshot"),
      std::string::npos)
      << latest.error().message;
  // An earlier point, asked for, still comes from the older one.
  auto old = ChooseStart(v, {RestoreTarget::kIndex, 5, 0});
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old->generation->name, kOld);
}

TEST(BackupView, ACaughtUpMarkExtendsTheLastEntrysStateToItsTime) {
  Listing l;
  l.Snap(kGen, 10, kT0 + 10 * kSec).Seg(kGen, 0, 11, 20);
  const RestoreTarget later{RestoreTarget::kTime, 0, kT0 + 50 * kSec};
  // Without a mark, a moment after the last entry is outside the backup.
  EXPECT_FALSE(ChooseStart(l.View(), later).ok());
  // A mark at an older entry says nothing about after the last one.
  l.objects.push_back({CaughtUpKey(kGen, 15, kT0 + 90 * kSec), 10, ""});
  EXPECT_FALSE(ChooseStart(l.View(), later).ok());
  l.objects.push_back({CaughtUpKey(kGen, 20, kT0 + 60 * kSec), 10, ""});
  BackupView v = l.View();
  // The newest mark counts (by time): 90 s at entry 15 — not the last.
  EXPECT_EQ(v.generations[0].caught_up_index, 15u);
  l.objects.pop_back();
  l.objects.pop_back();
  l.objects.push_back({CaughtUpKey(kGen, 20, kT0 + 60 * kSec), 10, ""});
  v = l.View();
  ASSERT_TRUE(v.generations[0].Restorable());
  EXPECT_EQ(v.generations[0].Restorable()->t1, kT0 + 60 * kSec);
  EXPECT_EQ(v.generations[0].Restorable()->last, 20u);
  auto start = ChooseStart(v, later);
  ASSERT_TRUE(start.ok()) << start.error().message;
  auto plan = PlanSegments(*start->generation, 11, later);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(Ranges(*plan), (R{{11, 20}}));
  // After the mark: still refused, with the range that exists.
  auto after = ChooseStart(v, {RestoreTarget::kTime, 0, kT0 + 61 * kSec});
  ASSERT_FALSE(after.ok());
  // A malformed mark is an unknown key, not a claim.
  l.objects.push_back({"generations/" + kGen + "/caught-up/zz", 1, ""});
  EXPECT_EQ(l.View().unknown.size(), 1u);
}

// Compaction (stream/compactor.h) leaves L0, L1 and L2 segments side by side
// for a while (a step cut short between its put and its deletes, a window
// with a hole left as L0s): restore takes the fewest objects that cover
// what it needs, and a hole is still an error naming it.
TEST(BackupView, LevelsThatOverlapArePlannedWithTheFewestObjects) {
  struct Seg {
    int level;
    uint64_t first, last;
  };
  struct Case {
    const char* what;
    std::vector<Seg> segs;
    uint64_t from;
    RestoreTarget target;
    R plan;                       // when it works
    const char* error = nullptr;  // else a part of the error
  };
  const RestoreTarget latest{};
  const std::vector<Case> cases = {
      {"an L1 and the L0s it was made from",
       {{0, 1, 3}, {0, 4, 6}, {0, 7, 9}, {1, 1, 9}},
       2,
       latest,
       {{1, 9}}},
      {"an L2 over L1s and L0s",
       {{1, 1, 9}, {1, 10, 20}, {0, 10, 12}, {2, 1, 20}, {0, 21, 22}},
       5,
       latest,
       {{1, 20}, {21, 22}}},
      {"the same range at two levels: the higher", {{0, 1, 9}, {1, 1, 9}}, 1, latest, {{1, 9}}},
      {"an L1 reaching further than the L0 holding `from`",
       {{0, 1, 3}, {1, 4, 12}, {0, 4, 6}, {0, 13, 14}},
       2,
       latest,
       {{1, 3}, {4, 12}, {13, 14}}},
      {"L0s left after an L1, then an L2 further on",
       {{1, 1, 9}, {0, 7, 9}, {0, 10, 12}, {2, 10, 30}},
       8,
       latest,
       {{1, 9}, {10, 30}}},
      {"an index inside an L2: only it",
       {{2, 1, 60}, {0, 61, 62}},
       5,
       {RestoreTarget::kIndex, 30, 0},
       {{1, 60}}},
      {"a time inside an L1",
       {{1, 1, 9}, {1, 10, 20}, {0, 21, 22}},
       3,
       {RestoreTarget::kTime, 0, kT0 + 12 * kSec},
       {{1, 9}, {10, 20}}},
      {"a hole between levels",
       {{1, 1, 9}, {0, 12, 14}, {2, 15, 40}},
       2,
       latest,
       {},
       "entries 10–11 are missing"},
      {"a hole inside L0s an L1 does not cover",
       {{1, 1, 9}, {0, 10, 12}, {0, 16, 18}},
       2,
       latest,
       {},
       "entries 13–15 are missing"},
      {"an index past every level",
       {{2, 1, 20}, {1, 21, 25}},
       2,
       {RestoreTarget::kIndex, 30, 0},
       {},
       "entries 26–30 are missing"},
  };
  for (const auto& c : cases) {
    Listing l;
    l.Snap(kGen, 1, kT0 + kSec);
    for (const auto& s : c.segs) l.Seg(kGen, s.level, s.first, s.last);
    auto plan = PlanSegments(l.View().generations[0], c.from, c.target);
    if (c.error) {
      ASSERT_FALSE(plan.ok()) << c.what;
      EXPECT_NE(plan.error().message.find(c.error), std::string::npos)
          << c.what << ": " << plan.error().message;
      continue;
    }
    ASSERT_TRUE(plan.ok()) << c.what << ": " << plan.error().message;
    EXPECT_EQ(Ranges(*plan), c.plan) << c.what;
  }
}

TEST(BackupView, ManySegmentsArePlannedInOnePass) {
  Listing l;
  l.Snap(kGen, 1, kT0 + kSec);
  for (uint64_t i = 1; i <= 200000; ++i) l.Seg(kGen, 0, i, i);
  BackupView v = l.View();
  auto plan = PlanSegments(v.generations[0], 1, {});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->segments.size(), 200000u);
  EXPECT_EQ(plan->last_index, 200000u);
}

TEST(BackupView, NothingThereIsSaidPlainly) {
  auto none = ChooseStart(ReadListing({}), {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no hearth backup there"), std::string::npos);
  Listing l;
  l.Snap(kGen, 4, kT0, false).Seg(kGen, 0, 1, 5);
  auto incomplete = ChooseStart(l.View(), {});
  ASSERT_FALSE(incomplete.ok());
  EXPECT_NE(incomplete.error().message.find("no complete snapshot"), std::string::npos)
      << incomplete.error().message;
}

}  // namespace
}  // namespace hearth::stream

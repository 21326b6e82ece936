#pragma once
// What the local log's unit tests share (log_test.cpp, log_faults_test.cpp):
// encoded entries to append, a fixture with a temp folder, and a gate a test
// puts in the syncer's path to hold or fail one of its passes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/log.h"
#include "store/entry.h"
#include "stream/log.h"

namespace hearth::stream::log_test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

inline void PutLe(std::string* b, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) (*b)[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

// One encoded entry of `db` carrying a DDL op of about `payload` bytes.
inline std::string MakeEntry(uint64_t index, const std::string& db = "hearth.db",
                             size_t payload = 40, uint64_t generation = 0) {
  store::EntryView e;
  e.kind = store::EntryKind::kWrites;
  e.index = index;
  e.generation = generation;
  e.commit_time_us = static_cast<int64_t>(index) * 1000;
  e.database = db;
  std::string sql = "INSERT INTO t VALUES ('" + std::string(payload, 'x') + "')";
  e.ops.push_back({store::OpKind::kDdl, sql});
  auto bytes = store::EncodeEntry(e);
  EXPECT_TRUE(bytes.ok()) << bytes.error().message;
  return bytes.ok() ? *bytes : std::string();
}

// Polls `done` for up to 5 s (the syncer acts on its own thread).
inline bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

// A sync_hook a test arms to hold the syncer inside one pass (until
// Release) or to fail one pass.
struct SyncGate {
  std::mutex m;
  std::condition_variable cv;
  bool hold = false, held = false, released = false;
  std::string fail;
  std::string Pass() {
    std::unique_lock lk(m);
    if (!fail.empty()) return std::exchange(fail, "");
    if (!hold) return "";
    hold = false;
    held = true;
    cv.notify_all();
    cv.wait_for(lk, 5s, [&] { return released; });
    return "";
  }
  bool WaitHeld() {
    std::unique_lock lk(m);
    return cv.wait_for(lk, 5s, [&] { return held; });
  }
  void Release() {
    std::lock_guard lk(m);
    released = true;
    cv.notify_all();
  }
};

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kError);
    char tmpl[] = "/tmp/hearth-log-XXXXXX";
    root_ = mkdtemp(tmpl);
    dir_ = root_ + "/log";
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<LocalLog> OpenLog(uint64_t segment_bytes = uint64_t{64} << 20,
                                    SyncGate* gate = nullptr) {
    LogOptions o;
    o.segment_bytes = segment_bytes;
    if (gate) o.sync_hook = [gate] { return gate->Pass(); };
    auto log = LocalLog::Open(dir_, o);
    EXPECT_TRUE(log.ok()) << (log.ok() ? "" : log.error().message);
    return log.ok() ? std::move(log).value() : nullptr;
  }

  // Appends entries [first, last] and returns their start offsets.
  std::vector<uint64_t> AppendRange(LocalLog* log, uint64_t first, uint64_t last,
                                    const std::string& db = "hearth.db") {
    std::vector<uint64_t> offsets;
    for (uint64_t i = first; i <= last; ++i) {
      auto off = log->Append(MakeEntry(i, db));
      EXPECT_TRUE(off.ok()) << off.error().message;
      offsets.push_back(off.ok() ? *off : 0);
    }
    return offsets;
  }

  std::vector<uint64_t> Indexes(const LocalLog& log, uint64_t from = 0, uint64_t to = UINT64_MAX) {
    std::vector<uint64_t> out;
    Status st = log.ForEach(from, to, [&](const LogEntry& e) {
      out.push_back(e.view.index);
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.error().message;
    return out;
  }

  std::vector<std::string> WalFiles() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_ + "/wal")) out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string root_, dir_;
};

inline std::vector<uint64_t> Seq(uint64_t first, uint64_t last) {
  std::vector<uint64_t> v;
  for (uint64_t i = first; i <= last; ++i) v.push_back(i);
  return v;
}

}  // namespace hearth::stream::log_test

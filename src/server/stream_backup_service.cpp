// The `stream-backup` service: with --backup-to, the uploader that streams
// the change log to an S3 bucket or a local folder (stream/uploader.h).
// Started last, so every store writes into the log before it runs; stopped
// first, after one last pass that puts up what is durable. The target is
// only parsed at start, never contacted: a target that is down or refuses
// must not keep the server from serving (it shows in the metrics and the
// health answer, and the uploader retries).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/version.h"
#include "server/parts.h"
#include "stream/uploader.h"

namespace hearth {
namespace {

// The uploader's hook for HEARTH_TEST_PAUSE_AT=POINT[:N]: at the Nth time it
// reaches POINT it logs "backup: test pause" (the test waits for that line)
// and never returns, so the test can kill -9 the server exactly there.
Result<std::function<void(std::string_view)>> TestPause(std::string_view spec) {
  std::string where(spec);
  uint64_t nth = 1;
  if (size_t colon = where.find(':'); colon != std::string::npos) {
    if (!ParseUint(std::string_view(where).substr(colon + 1), &nth) || nth == 0)
      return Error{"HEARTH_TEST_PAUSE_AT: expected POINT or POINT:N (N >= 1), got " + where};
    where.resize(colon);
  }
  auto seen = std::make_shared<uint64_t>(0);  // the uploader's thread only
  Log(LogLevel::kWarn, "backup: test pause armed",
      {{"point", where}, {"nth", static_cast<int64_t>(nth)}});
  return std::function<void(std::string_view)>([where, nth, seen](std::string_view point) {
    if (point != where || ++*seen != nth) return;
    Log(LogLevel::kWarn, "backup: test pause",
        {{"point", where}, {"nth", static_cast<int64_t>(nth)}});
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  });
}

// Commit time of the newest entry minus that of the newest uploaded one.
double LagSeconds(const stream::UploaderStats& st) {
  return st.lag_entries() == 0 ? 0.0 : (st.log_time_us - st.uploaded_time_us) / 1e6;
}

class StreamBackup : public Service {
 public:
  explicit StreamBackup(Parts* p) : p_(p) {}
  std::string_view name() const override { return "stream-backup"; }
  std::vector<std::string_view> settings() const override {
    return {"backup-to",     "backup-endpoint",     "backup-region",         "backup-key-id",
            "backup-secret", "backup-upload-every", "backup-snapshot-every", "backup-retention"};
  }
  Status Validate(const Settings& s) override {
    auto t = s3::ParseTarget(s.backup_to);
    if (!t.ok()) return Error{"--backup-to: " + t.error().message};
    if (t->kind == s3::Target::kS3 && (s.backup_key_id.empty() || s.backup_secret.empty()))
      return Error{
          "--backup-to s3://… needs --backup-key-id and --backup-secret (or "
          "HEARTH_BACKUP_KEY_ID and HEARTH_BACKUP_SECRET)"};
    // A bare number is seconds: "--backup-retention 30" meant as days would
    // keep 30 s. Less than an hour is refused (tests aside).
    const char* tests = getenv("HEARTH_TEST_ENDPOINTS");
    const bool testing = tests && std::string_view(tests) == "1";
    if (s.backup_retention_ms != 0 && s.backup_retention_ms < 3'600'000 && !testing)
      return Error{"--backup-retention " + std::to_string(s.backup_retention_ms / 1000) +
                   "s is less than an hour: give a unit (e.g. 30d), or 0 to keep everything"};
    return OkStatus();
  }
  Status Start() override {
    const Settings& s = p_->settings;
    if (!p_->change_log) return Error{"the streaming backup needs the change log"};
    s3::StoreOptions so;
    so.endpoint = s.backup_endpoint;
    so.region = s.backup_region;
    so.creds.key_id = s.backup_key_id;
    so.creds.secret = s.backup_secret;
    // A pass must end in bounded time, so that a stop is not held up by a
    // target that stopped answering.
    so.max_tries = 3;
    so.timeout_ms = 120000;
    auto target = s3::OpenObjectStore(s.backup_to, so);
    if (!target.ok()) return Error{"--backup-to: " + target.error().message};
    stream::UploaderOptions o;
    o.data_dir = s.data;
    o.node_id = p_->stream ? p_->stream->node_id : 0;
    o.hearth_version = kVersion;
    o.every = std::chrono::milliseconds(s.backup_upload_every_ms);
    o.snapshot_every = std::chrono::milliseconds(s.backup_snapshot_every_ms);
    o.upkeep = true;
    o.compactor.retention_us = s.backup_retention_ms * 1000;
    // Tests shrink compaction's windows (5 min, 1 h), the grace after them,
    // retention's period (1 h) and the age bytes and unfinished snapshots
    // must reach before they go (1 day): "2s,6s,1s,2s,3s" (only with the
    // test endpoints on).
    const char* upkeep = getenv("HEARTH_TEST_BACKUP_UPKEEP");
    // (The environment itself: this service starts before the workers'
    // fill p_->builtin.)
    const char* tests = getenv("HEARTH_TEST_ENDPOINTS");
    if (upkeep && *upkeep && tests && std::string_view(tests) == "1") {
      int64_t* fields[] = {&o.compactor.l1_window_us, &o.compactor.l2_window_us,
                           &o.compactor.grace_us, &o.compactor.retention_every_us,
                           &o.compactor.sweep_age_us};
      std::string_view rest = upkeep;
      for (int64_t* f : fields) {
        size_t comma = rest.find(',');
        int64_t ms = 0;
        // A zero window or period would divide by zero: left at its default.
        if (ParseDurationMillis(rest.substr(0, comma), &ms) && ms > 0) *f = ms * 1000;
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
    // Tests stop the uploader at a point of their choosing, to kill -9 the
    // server there: HEARTH_TEST_PAUSE_AT=POINT[:N], the Nth time the
    // uploader reaches POINT (uploader.h names them). Only with the test
    // endpoints on, read here: the builtin context is filled later, by the
    // workers' service.
    const char* endpoints = getenv("HEARTH_TEST_ENDPOINTS");
    const char* pause = getenv("HEARTH_TEST_PAUSE_AT");
    if (pause && *pause && endpoints && std::string_view(endpoints) == "1") {
      auto hook = TestPause(pause);
      if (!hook.ok()) return hook.error();
      o.pause_at = std::move(hook).value();
    }
    p_->uploader = std::make_unique<stream::Uploader>(p_->change_log.get(),
                                                      std::move(target).value(), std::move(o));
    p_->uploader->Start();
    stream::Uploader* up = p_->uploader.get();
    p_->builtin.backup_state = [up] { return up->stats().State(WallNowMicros()); };
    p_->backup_facts = [up]() -> std::optional<admin::BackupFacts> {
      stream::UploaderStats st = up->stats();
      admin::BackupFacts f;
      f.target = st.target;  // the URL only: the credentials are not in it
      f.state = st.State(WallNowMicros());
      f.generation = st.generation;
      f.uploaded_index = st.uploaded_index;
      f.uploaded_time_us = st.uploaded_time_us;
      f.lag_entries = st.lag_entries();
      f.lag_seconds = LagSeconds(st);
      f.last_snapshot_us = st.last_snapshot_us;
      f.last_error = st.last_error;
      return f;
    };
    Log(LogLevel::kInfo, "streaming backup on", {{"target", up->stats().target}});
    return OkStatus();
  }
  void Stop() override {
    if (p_->uploader) p_->uploader->Stop();
  }
  std::string Metrics() const override {
    if (!p_->uploader) return {};
    stream::UploaderStats st = p_->uploader->stats();
    const int64_t now = WallNowMicros();
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, double value) {
      char buf[512];
      snprintf(buf, sizeof buf, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type,
               name, value);
      out += buf;
    };
    metric("hearth_backup_uploaded_index", "gauge", "The last entry the backup target holds.",
           static_cast<double>(st.uploaded_index));
    metric("hearth_backup_lag_entries", "gauge",
           "Entries in the local log not yet at the backup target.",
           static_cast<double>(st.lag_entries()));
    metric("hearth_backup_lag_seconds", "gauge",
           "Commit time of the newest entry minus that of the newest uploaded one.",
           LagSeconds(st));
    metric("hearth_backup_segments_total", "counter", "Segments uploaded.",
           static_cast<double>(st.segments_total));
    metric("hearth_backup_snapshots_total", "counter", "Snapshots uploaded.",
           static_cast<double>(st.snapshots_total));
    metric("hearth_backup_put_requests_total", "counter", "Objects put to the backup target.",
           static_cast<double>(st.put_requests_total));
    metric("hearth_backup_bytes_uploaded_total", "counter", "Bytes put to the backup target.",
           static_cast<double>(st.bytes_uploaded_total));
    metric("hearth_backup_failures_total", "counter", "Upload passes that failed.",
           static_cast<double>(st.failures_total));
    metric("hearth_backup_last_success_timestamp_seconds", "gauge",
           "When an upload pass last worked (Unix time).", st.last_success_us / 1e6);
    metric("hearth_backup_last_snapshot_timestamp_seconds", "gauge",
           "When the last snapshot was taken (Unix time).", st.last_snapshot_us / 1e6);
    metric("hearth_backup_failing", "gauge", "1 when no upload pass has worked for 60 s.",
           st.State(now) == "failing" ? 1.0 : 0.0);
    // Compaction and retention (stream/compactor.h).
    out +=
        "# HELP hearth_backup_compactions_total Segments made by compaction, by level.\n"
        "# TYPE hearth_backup_compactions_total counter\n";
    for (int level = 1; level <= 2; ++level)
      out += "hearth_backup_compactions_total{level=\"" + std::to_string(level) + "\"} " +
             std::to_string(st.upkeep.compactions[level]) + "\n";
    out +=
        "# HELP hearth_backup_deleted_objects_total Objects deleted from the backup target "
        "(compacted segments, retention).\n"
        "# TYPE hearth_backup_deleted_objects_total counter\n";
    const std::pair<const char*, uint64_t> kinds[] = {{"segment", st.upkeep.deleted_segments},
                                                      {"snapshot", st.upkeep.deleted_snapshots},
                                                      {"generation", st.upkeep.deleted_generations},
                                                      {"bytes", st.upkeep.deleted_bytes}};
    for (const auto& [kind, n] : kinds)
      out += std::string("hearth_backup_deleted_objects_total{kind=\"") + kind + "\"} " +
             std::to_string(n) + "\n";
    metric("hearth_backup_compaction_holes_total", "counter",
           "Compaction windows left as they are because entries are missing from them.",
           static_cast<double>(st.upkeep.holes_skipped));
    metric("hearth_backup_upkeep_failures_total", "counter",
           "Compaction or retention steps that failed (retried a minute later).",
           static_cast<double>(st.upkeep_failures_total));
    return out;
  }

 private:
  Parts* p_;
};

}  // namespace

std::unique_ptr<Service> StreamBackupService(Parts* p) {
  return std::make_unique<StreamBackup>(p);
}

}  // namespace hearth

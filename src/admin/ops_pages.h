#pragma once
// The console's operations pages: the overview (traffic chart, the
// streaming backup) and the server's log, with a live tail.
#include <optional>
#include <string>

#include "admin/backup_facts.h"
#include "admin/common.h"
#include "admin/stats.h"

namespace hearth::admin {

// GET /_hearth/ : requests/s and errors over the last 5 minutes, and the
// streaming backup's region (`backup`: null for none), redrawn every 2
// seconds by the page's script (a reload without it).
void OverviewPage(PageContext& ctx, const TrafficStats* stats, const BackupFactsSource* backup);
// The overview's Backup region: "off" without a backup; else its state,
// target, generation, uploaded entry and time, lag, last snapshot and the
// first line of the last error.
std::string BackupRegion(const std::optional<BackupFacts>& backup);
// GET /_hearth/logs : the last 200 log lines, newest last.
void LogsPage(PageContext& ctx);
// GET /_hearth/logs/stream : lines after ?after=SEQ (or Last-Event-ID) as
// server-sent events ("log", id = the line's sequence number), then each
// new line as it is logged.
void LogStream(PageContext& ctx);

}  // namespace hearth::admin

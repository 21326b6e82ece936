#pragma once
// The console's operations pages: the overview (traffic chart) and the
// server's log, with a live tail.
#include "admin/common.h"
#include "admin/stats.h"

namespace hearth::admin {

// GET /_hearth/ : requests/s and errors over the last 5 minutes, redrawn
// every 2 seconds by the page's script (a reload without it).
void OverviewPage(PageContext& ctx, const TrafficStats* stats);
// GET /_hearth/logs : the last 200 log lines, newest last.
void LogsPage(PageContext& ctx);
// GET /_hearth/logs/stream : lines after ?after=SEQ (or Last-Event-ID) as
// server-sent events ("log", id = the line's sequence number), then each
// new line as it is logged.
void LogStream(PageContext& ctx);

}  // namespace hearth::admin

#include "admin/ops_pages.h"

#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "admin/html.h"
#include "base/log.h"
#include "base/strings.h"

namespace hearth::admin {

using nlohmann::json;

void OverviewPage(PageContext& ctx, const TrafficStats* stats, const BackupFactsSource* backup) {
  std::string h =
      "<h1>Overview</h1><h2 id=\"traffic\">Traffic</h2><div data-region=\"traffic\" "
      "data-poll=\"2000\">";
  if (stats) {
    h += TrafficChart(Rates(stats->Samples()), static_cast<int64_t>(time(nullptr)));
  } else {
    h += "<p class=\"muted\">No traffic figures in this server.</p>";
  }
  h += "</div>";
  h += BackupRegion(backup && *backup ? (*backup)() : std::nullopt);
  h += "<p><a href=\"/_hearth/sites\">Sites</a> · <a href=\"/_hearth/logs\">The server's "
       "log</a> · "
       "<a href=\"/_hearth/metrics\">Metrics (Prometheus)</a></p>";
  Html(*ctx.res, 200, RenderPage(Page("Overview", "overview", ctx.session.csrf), h));
}

std::string BackupRegion(const std::optional<BackupFacts>& b) {
  std::string h = "<h2 id=\"backup\">Backup</h2><div data-region=\"backup\">";
  if (!b) {
    return h +
           "<p class=\"muted\">Off: no streaming backup (<code>--backup-to</code>, see "
           "docs/backup.md).</p></div>";
  }
  auto when = [](int64_t us) { return us > 0 ? Date(us / 1'000'000) : std::string("never"); };
  auto row = [&h](const char* name, const std::string& value) {
    h += "<tr><th scope=\"row\">" + std::string(name) + "</th><td data-backup=\"" +
         std::string(name) + "\">" + Escape(value) + "</td></tr>";
  };
  // An error can run over many lines (an S3 answer): its first, shortened.
  std::string error = b->last_error.substr(0, b->last_error.find('\n'));
  if (error.size() > 300) {
    size_t cut = 300;
    while (cut > 0 && (static_cast<unsigned char>(error[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
    error = error.substr(0, cut) + "…";
  }
  char lag[64];
  snprintf(lag, sizeof lag, "%llu entries, %.1f s", static_cast<unsigned long long>(b->lag_entries),
           b->lag_seconds);
  h += "<table aria-labelledby=\"backup\"><tbody>";
  row("State", b->state);
  row("Target", b->target);
  row("Generation", b->generation.empty() ? "none yet" : b->generation);
  row("Uploaded",
      "entry " + std::to_string(b->uploaded_index) + ", committed " + when(b->uploaded_time_us));
  row("Lag", lag);
  row("Last snapshot", when(b->last_snapshot_us));
  row("Last error", error.empty() ? "none" : error);
  return h + "</tbody></table></div>";
}

namespace {

// One log line as a table row: time, level, message, the other fields.
std::string Row(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return "<tr><td colspan=\"4\">" + Escape(text) + "</td></tr>";
  std::string details;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "ts" || it.key() == "level" || it.key() == "msg") continue;
    details += (details.empty() ? "" : " ") + it.key() + "=" +
               (it->is_string() ? it->get<std::string>() : it->dump());
  }
  std::string level = j.value("level", "");
  return "<tr class=\"log-" + Escape(level) + "\"><td>" + Escape(j.value("ts", "")) + "</td><td>" +
         Escape(level) + "</td><td>" + Escape(j.value("msg", "")) + "</td><td>" + Escape(details) +
         "</td></tr>";
}

}  // namespace

void LogsPage(PageContext& ctx) {
  auto lines = RecentLogLines(0, 200);
  uint64_t last = lines.empty() ? 0 : lines.back().seq;
  std::string h = "<h1>The server's log</h1><p class=\"muted\">The last " +
                  std::to_string(lines.size()) +
                  " lines; new ones appear below as they are logged.</p>"
                  "<table class=\"log\"><thead><tr><th scope=\"col\">Time (UTC)</th><th "
                  "scope=\"col\">Level</th>"
                  "<th scope=\"col\">Message</th><th scope=\"col\">Details</th></tr></thead>"
                  "<tbody data-log-source=\"/_hearth/logs/stream?after=" +
                  std::to_string(last) + "\" aria-live=\"polite\">";
  for (const auto& l : lines) h += Row(l.text);
  h += "</tbody></table>";
  Html(*ctx.res, 200, RenderPage(Page("Log", "logs", ctx.session.csrf), h));
}

void LogStream(PageContext& ctx) {
  Request& req = *ctx.req;
  Response& res = *ctx.res;
  Form query;
  (void)ParseQueryString(req.query, &query);
  uint64_t after = 0, resumed = 0;
  (void)ParseUint(FormValue(query, "after"), &after);
  // A reconnecting EventSource says where it was.
  if (ParseUint(req.Header("last-event-id"), &resumed) && resumed > after) after = resumed;
  std::function<void()> wake = res.MakeWaker();
  if (!wake) return res.SetError(500);
  uint64_t listener = AddLogListener(std::move(wake));
  // The stream owns the listener: when the connection goes, so does it.
  std::shared_ptr<void> guard(nullptr, [listener](void*) { RemoveLogListener(listener); });
  auto cursor = std::make_shared<uint64_t>(after);
  SessionEventStream(ctx, "the log of hearth", guard, [cursor](std::string& out) {
    for (const auto& l :
         RecentLogLines(*cursor, kLogTailLines)) {  // all of them: a burst is not cut
      out += "id: " + std::to_string(l.seq) + "\nevent: log\ndata: " + l.text + "\n\n";
      *cursor = l.seq;
    }
  });
}

}  // namespace hearth::admin

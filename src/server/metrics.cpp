#include "server/metrics.h"

#include <cstdio>

namespace hearth {

void WorkerMetrics::RecordRequest(int status, int64_t micros) {
  int cls = status / 100;
  requests_by_class[(cls >= 1 && cls <= 5) ? cls : 0].Add();
  size_t b = 0;
  while (b < kLatencyBuckets && micros > kLatencyBoundsUs[b]) ++b;
  latency[b].Add();
  latency_sum_us.Add(static_cast<uint64_t>(micros < 0 ? 0 : micros));
}

std::string RenderPrometheus(const std::vector<const WorkerMetrics*>& ws, double uptime) {
  auto sum = [&](auto getter) {
    uint64_t t = 0;
    for (const auto* w : ws) t += getter(*w).Get();
    return t;
  };
  std::string out;
  char line[256];
  out += "# HELP hearth_requests_total Requests answered, by status class.\n";
  out += "# TYPE hearth_requests_total counter\n";
  const char* classes[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int c = 0; c < 6; ++c) {
    snprintf(line, sizeof line, "hearth_requests_total{class=\"%s\"} %llu\n", classes[c],
             static_cast<unsigned long long>(sum([&](const WorkerMetrics& w) -> const Counter& {
               return w.requests_by_class[c];
             })));
    out += line;
  }
  out +=
      "# HELP hearth_request_duration_seconds Time from a complete request head to its response "
      "being queued.\n";
  out += "# TYPE hearth_request_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= kLatencyBuckets; ++b) {
    cumulative += sum([&](const WorkerMetrics& w) -> const Counter& { return w.latency[b]; });
    if (b < kLatencyBuckets)
      snprintf(line, sizeof line, "hearth_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
               kLatencyBoundsUs[b] / 1e6, static_cast<unsigned long long>(cumulative));
    else
      snprintf(line, sizeof line, "hearth_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
               static_cast<unsigned long long>(cumulative));
    out += line;
  }
  snprintf(line, sizeof line,
           "hearth_request_duration_seconds_sum %.6f\nhearth_request_duration_seconds_count %llu\n",
           sum([](const WorkerMetrics& w) -> const Counter& { return w.latency_sum_us; }) / 1e6,
           static_cast<unsigned long long>(cumulative));
  out += line;
  auto simple = [&](const char* name, const char* type, const char* help, uint64_t v) {
    out += "# HELP ";
    out += name;
    out += " ";
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " ";
    out += type;
    out += "\n";
    snprintf(line, sizeof line, "%s %llu\n", name, static_cast<unsigned long long>(v));
    out += line;
  };
  simple("hearth_connections_open", "gauge", "Connections open now.",
         sum([](const WorkerMetrics& w) -> const Counter& { return w.connections_open; }));
  simple("hearth_connections_accepted_total", "counter", "Connections accepted.",
         sum([](const WorkerMetrics& w) -> const Counter& { return w.connections_accepted; }));
  simple("hearth_tls_handshakes_total", "counter", "TLS handshakes completed.",
         sum([](const WorkerMetrics& w) -> const Counter& { return w.tls_handshakes; }));
  simple("hearth_tls_resumptions_total", "counter",
         "TLS handshakes that resumed a session (a ticket).",
         sum([](const WorkerMetrics& w) -> const Counter& { return w.tls_resumptions; }));
  simple("hearth_tls_handshake_failures_total", "counter",
         "TLS handshakes that failed (bad input, unknown name, timeout excluded).",
         sum([](const WorkerMetrics& w) -> const Counter& { return w.tls_handshake_failures; }));
  simple("hearth_http2_abuse_total", "counter",
         "HTTP/2 connections closed for abuse (rapid reset, floods).",
         sum([](const WorkerMetrics& w) -> const Counter& { return w.http2_abuse; }));
  simple("hearth_bytes_received_total", "counter", "Bytes read from clients.",
         sum([](const WorkerMetrics& w) -> const Counter& { return w.bytes_in; }));
  simple("hearth_bytes_sent_total", "counter", "Bytes written to clients.",
         sum([](const WorkerMetrics& w) -> const Counter& { return w.bytes_out; }));
  simple("hearth_protocol_errors_total", "counter",
         "Requests refused as malformed or over a limit.",
         sum([](const WorkerMetrics& w) -> const Counter& { return w.protocol_errors; }));
  out += "# HELP hearth_timeouts_total Connections closed by a timeout, by kind.\n";
  out += "# TYPE hearth_timeouts_total counter\n";
  const char* kinds[] = {"header", "body", "keepalive", "write"};
  for (int k = 0; k < static_cast<int>(TimeoutKind::kCount); ++k) {
    snprintf(line, sizeof line, "hearth_timeouts_total{kind=\"%s\"} %llu\n", kinds[k],
             static_cast<unsigned long long>(
                 sum([&](const WorkerMetrics& w) -> const Counter& { return w.timeouts[k]; })));
    out += line;
  }
  snprintf(line, sizeof line,
           "# HELP hearth_uptime_seconds Seconds since start.\n# TYPE hearth_uptime_seconds "
           "gauge\nhearth_uptime_seconds %.3f\n",
           uptime);
  out += line;
  return out;
}

}  // namespace hearth

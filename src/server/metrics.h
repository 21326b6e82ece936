#pragma once
// Per-worker counters, summed when /_hearth/metrics is scraped. Each counter
// has one writer (its worker), so an increment is a relaxed load and store:
// no locked instruction on the request path.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace hearth {

class Counter {
 public:
  void Add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void Sub(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  uint64_t Get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Upper bounds of the latency histogram, in microseconds.
inline constexpr int64_t kLatencyBoundsUs[] = {100,     250,     500,     1000,    2500,   5000,
                                               10000,   25000,   50000,   100000,  250000, 500000,
                                               1000000, 2500000, 5000000, 10000000};
inline constexpr size_t kLatencyBuckets = sizeof(kLatencyBoundsUs) / sizeof(kLatencyBoundsUs[0]);

enum class TimeoutKind { kHeader = 0, kBody, kIdle, kWrite, kCount };

struct alignas(64) WorkerMetrics {
  Counter requests_by_class[6];          // [0] other, [1] 1xx ... [5] 5xx
  Counter latency[kLatencyBuckets + 1];  // last: +Inf
  Counter latency_sum_us;
  Counter bytes_in, bytes_out;
  Counter connections_accepted, connections_open;
  Counter tls_handshakes, tls_handshake_failures, tls_resumptions;
  Counter http2_abuse;  // HTTP/2 connections sent GOAWAY for rapid reset, floods
  Counter timeouts[static_cast<int>(TimeoutKind::kCount)];
  Counter protocol_errors;  // requests refused by the parser (4xx/5xx before dispatch)

  void RecordRequest(int status, int64_t micros);
};

// Prometheus text exposition format (version 0.0.4) over all workers.
std::string RenderPrometheus(const std::vector<const WorkerMetrics*>& workers,
                             double uptime_seconds);

}  // namespace hearth

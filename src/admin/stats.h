#pragma once
// Traffic over the last few minutes for the console's overview: a thread
// reads the request totals once a second and keeps kSamples of them, so the
// page can draw requests/s and the error rate without anyone having scraped
// /_hearth/metrics.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth::admin {

class TrafficStats {
 public:
  static constexpr size_t kSamples = 301;  // five minutes of one-second steps
  struct Totals {
    uint64_t requests = 0;
    uint64_t errors = 0;  // answered 5xx
  };
  struct Sample {
    int64_t unix_s = 0;
    Totals totals;
  };
  // `read`: the totals now, called on the stats thread.
  explicit TrafficStats(std::function<Totals()> read);
  // Starts sampling (once what `read` reads is complete).
  void Start();
  ~TrafficStats();  // stops the thread
  // Stops the thread (no more samples); idempotent.
  void Stop();
  TrafficStats(const TrafficStats&) = delete;
  TrafficStats& operator=(const TrafficStats&) = delete;

  // Oldest first.
  std::vector<Sample> Samples() const;

 private:
  void Loop();
  std::function<Totals()> read_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<Sample> samples_;
  std::thread thread_;
};

// Per-second rates between consecutive samples.
struct Rate {
  int64_t unix_s = 0;
  double requests = 0, errors = 0;
};
std::vector<Rate> Rates(const std::vector<TrafficStats::Sample>& samples);

// An SVG line chart of `rates` (requests/s and 5xx/s), with a text summary
// for screen readers; `now_s` is the right edge.
std::string TrafficChart(const std::vector<Rate>& rates, int64_t now_s);

}  // namespace hearth::admin

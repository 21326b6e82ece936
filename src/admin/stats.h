#pragma once
// Traffic over the last few minutes for the console's overview: a job on the
// server's scheduler takes the request totals once a second (Take) and
// kSamples of them are kept, so the page can draw requests/s and the error
// rate without anyone having scraped /_hearth/metrics.
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
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
  // `read`: the totals now, called from Take.
  explicit TrafficStats(std::function<Totals()> read);
  // One sample (the scheduler's "stats" job, once a second, once what `read`
  // reads is complete).
  void Take();
  TrafficStats(const TrafficStats&) = delete;
  TrafficStats& operator=(const TrafficStats&) = delete;

  // Oldest first.
  std::vector<Sample> Samples() const;

 private:
  std::function<Totals()> read_;
  mutable std::mutex mu_;
  std::deque<Sample> samples_;
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

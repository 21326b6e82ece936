#include "admin/stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>

namespace hearth::admin {

TrafficStats::TrafficStats(std::function<Totals()> read) : read_(std::move(read)) {}

void TrafficStats::Take() {
  Sample s{static_cast<int64_t>(time(nullptr)), read_()};
  std::lock_guard<std::mutex> lock(mu_);
  samples_.push_back(s);
  if (samples_.size() > kSamples) samples_.pop_front();
}

std::vector<TrafficStats::Sample> TrafficStats::Samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {samples_.begin(), samples_.end()};
}

std::vector<Rate> Rates(const std::vector<TrafficStats::Sample>& samples) {
  std::vector<Rate> out;
  for (size_t i = 1; i < samples.size(); ++i) {
    const auto& a = samples[i - 1];
    const auto& b = samples[i];
    double dt = static_cast<double>(std::max<int64_t>(1, b.unix_s - a.unix_s));
    // Totals only grow; a smaller one (never expected) counts as nothing.
    double req = b.totals.requests >= a.totals.requests
                     ? static_cast<double>(b.totals.requests - a.totals.requests)
                     : 0;
    double err = b.totals.errors >= a.totals.errors
                     ? static_cast<double>(b.totals.errors - a.totals.errors)
                     : 0;
    out.push_back({b.unix_s, req / dt, err / dt});
  }
  return out;
}

namespace {

std::string Num(double v) {
  char buf[32];
  if (v >= 100 || v == std::floor(v))
    snprintf(buf, sizeof buf, "%.0f", v);
  else
    snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// The smallest of 1, 2, 5 x 10^k at or above v (at least 1).
double NiceCeil(double v) {
  double step = 1;
  while (step * 10 <= v) step *= 10;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * step >= v) return m * step;
  return 10 * step;
}

}  // namespace

std::string TrafficChart(const std::vector<Rate>& rates, int64_t now_s) {
  constexpr int kW = 720, kH = 160, kLeft = 48, kTop = 10, kBottom = 22;
  constexpr int64_t kSpan = 300;
  double peak = 0, now_req = 0, now_err = 0, sum_req = 0, sum_err = 0;
  for (const auto& r : rates) {
    peak = std::max(peak, r.requests);
    sum_req += r.requests;
    sum_err += r.errors;
  }
  // "Now": the mean of the last 10 seconds, steadier than one step.
  size_t n = 0;
  for (auto it = rates.rbegin(); it != rates.rend() && n < 10; ++it, ++n) {
    now_req += it->requests;
    now_err += it->errors;
  }
  if (n) {
    now_req /= static_cast<double>(n);
    now_err /= static_cast<double>(n);
  }
  double top = NiceCeil(std::max(1.0, peak));
  double plot_w = kW - kLeft - 8, plot_h = kH - kTop - kBottom;
  auto x = [&](int64_t t) {
    return kLeft + plot_w * (1.0 - static_cast<double>(now_s - t) / kSpan);
  };
  auto y = [&](double v) { return kTop + plot_h * (1.0 - v / top); };
  auto line = [&](bool errors) {
    std::string pts;
    char buf[48];
    for (const auto& r : rates) {
      if (now_s - r.unix_s > kSpan) continue;
      snprintf(buf, sizeof buf, "%.1f,%.1f ", x(r.unix_s), y(errors ? r.errors : r.requests));
      pts += buf;
    }
    return pts;
  };
  std::string error_rate = sum_req > 0 ? Num(100.0 * sum_err / sum_req) + "%" : "0%";
  std::string summary = "Now " + Num(now_req) + " requests/s and " + Num(now_err) +
                        " errors/s; peak " + Num(peak) + " requests/s; " + error_rate +
                        " of requests failed (5xx) in the last 5 minutes.";
  std::string h =
      "<figure class=\"chart\"><svg role=\"img\" aria-labelledby=\"chart-title chart-desc\" "
      "viewBox=\"0 0 " +
      std::to_string(kW) + " " + std::to_string(kH) +
      "\" width=\"100%\" preserveAspectRatio=\"xMidYMid meet\">";
  h += "<title id=\"chart-title\">Requests per second, last 5 minutes</title><desc "
       "id=\"chart-desc\">" +
       summary + "</desc>";
  char buf[160];
  for (int i = 0; i <= 2; ++i) {  // grid: 0, half, top
    double v = top * i / 2;
    snprintf(buf, sizeof buf,
             "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#d9dde3\"/>", kLeft,
             kW - 8, y(v), y(v));
    h += buf;
    snprintf(buf, sizeof buf,
             "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\" fill=\"#5a6372\">",
             kLeft - 6, y(v) + 4);
    h += buf + Num(v) + "</text>";
  }
  snprintf(buf, sizeof buf,
           "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#5a6372\">5 min ago</text>", kLeft,
           kH - 6);
  h += buf;
  snprintf(
      buf, sizeof buf,
      "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\" fill=\"#5a6372\">now</text>",
      kW - 8, kH - 6);
  h += buf;
  h += "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"" + line(false) +
       "\"/>";
  h += "<polyline fill=\"none\" stroke=\"#b3261e\" stroke-width=\"2\" stroke-dasharray=\"4 3\" "
       "points=\"" +
       line(true) + "\"/>";
  h += "</svg><figcaption><span class=\"key req\">requests/s</span> <span class=\"key err\">5xx "
       "errors/s</span> · " +
       summary + "</figcaption></figure>";
  return h;
}

}  // namespace hearth::admin

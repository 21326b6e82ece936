// OCSP stapling's refresh: one thread fetches, checks and refreshes the
// answers of the installed certificates that name a responder, each halfway
// through its validity, with a back-off after failures.
#include <algorithm>
#include <ctime>

#include "base/clock.h"
#include "base/log.h"
#include "tls/ocsp.h"
#include "tls/ocsp_staple.h"
#include "tls/server.h"

namespace hearth::tls {

void TlsServer::StartOcsp() {
  if (ocsp_thread_.joinable()) return;
  ocsp_thread_ = std::thread([this] { OcspLoop(); });
}

void TlsServer::OcspLoop() {
  constexpr int64_t kMinute = 60 * 1000, kHour = 60 * kMinute, kDay = 24 * kHour;
  while (true) {
    std::vector<std::shared_ptr<OcspStaple>> list;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, st] : staples_) list.push_back(st);
    }
    int64_t wake = MonoNowMillis() + kHour;
    for (const auto& st : list) {
      if (ocsp_cancel_.load()) return;
      int64_t now_ms = MonoNowMillis();
      if (st->next_fetch_ms > now_ms) {
        wake = std::min(wake, st->next_fetch_ms);
        continue;
      }
      int64_t now = static_cast<int64_t>(time(nullptr));
      auto req = MakeOcspRequest(st->chain_pem);
      auto body =
          req.ok() ? FetchOcsp(st->url, *req, &ocsp_cancel_) : Result<std::string>(req.error());
      auto answer = body.ok() ? CheckOcspResponse(*body, st->chain_pem, now)
                              : Result<OcspAnswer>(body.error());
      if (ocsp_cancel_.load()) return;
      if (answer.ok() && answer->good) {
        // Refreshed halfway through its validity (between a minute and a day).
        int64_t span = (answer->next_update - answer->this_update) * 1000;
        st->next_fetch_ms = MonoNowMillis() + std::clamp<int64_t>(span / 2, kMinute, kDay);
        st->delay_ms = 0;
        std::lock_guard<std::mutex> lock(st->mu);
        st->der = std::move(body).value();
        st->expires = answer->next_update;
      } else {
        st->delay_ms = st->delay_ms ? std::min(st->delay_ms * 2, kHour) : kMinute;
        st->next_fetch_ms = MonoNowMillis() + st->delay_ms;
        if (answer.ok()) {
          // Revoked: a stapled "revoked" would only make clients fail harder
          // than they do without one; the operator must replace it.
          Log(LogLevel::kError, "certificate revoked (OCSP); replace it",
              {{"certificate", st->id}, {"responder", st->url}});
          std::lock_guard<std::mutex> lock(st->mu);
          st->der.clear();
        } else {
          // A failed refresh keeps the last good answer until it expires.
          Log(LogLevel::kWarn, "OCSP: no answer to staple",
              {{"certificate", st->id},
               {"error", answer.error().message},
               {"retry_in_s", st->delay_ms / 1000}});
        }
      }
      wake = std::min(wake, st->next_fetch_ms);
    }
    std::unique_lock<std::mutex> lock(ocsp_mu_);
    int64_t wait = std::max<int64_t>(0, wake - MonoNowMillis());
    ocsp_cv_.wait_for(lock, std::chrono::milliseconds(wait),
                      [&] { return ocsp_stop_ || ocsp_poked_; });
    if (ocsp_stop_) return;
    ocsp_poked_ = false;
  }
}

}  // namespace hearth::tls

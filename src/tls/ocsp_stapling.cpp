// OCSP stapling's refresh: a scheduler job ("ocsp") fetches, checks and
// refreshes the answers of the installed certificates that name a responder,
// each halfway through its validity, with a back-off after failures; each
// run says when the next is due.
#include <algorithm>
#include <ctime>

#include "base/clock.h"
#include "base/log.h"
#include "tls/ocsp.h"
#include "tls/ocsp_staple.h"
#include "tls/server.h"

namespace hearth::tls {

void TlsServer::StartOcsp(Scheduler* jobs) {
  if (ocsp_job_.load() || !jobs) return;
  ocsp_jobs_ = jobs;
  ocsp_job_.store(jobs->Timed("ocsp", 0, [this] { return RefreshOcsp(); }));
}

void TlsServer::StopOcsp() {
  ocsp_cancel_.store(true);
  if (uint64_t job = ocsp_job_.exchange(0)) ocsp_jobs_->Cancel(job);
}

// One run of the "ocsp" job; returns the ms until the next (-1: stopped).
int64_t TlsServer::RefreshOcsp() {
  constexpr int64_t kMinute = 60 * 1000, kHour = 60 * kMinute, kDay = 24 * kHour;
  {
    std::vector<std::shared_ptr<OcspStaple>> list;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, st] : staples_) list.push_back(st);
    }
    int64_t wake = MonoNowMillis() + kHour;
    for (const auto& st : list) {
      if (ocsp_cancel_.load()) return -1;
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
      if (ocsp_cancel_.load()) return -1;
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
    return std::max<int64_t>(0, wake - MonoNowMillis());
  }
}

}  // namespace hearth::tls

#include "admin/common.h"

#include <cstdio>
#include <ctime>

#include "base/strings.h"

namespace hearth::admin {

void Harden(Response& res) {
  // No framing (clickjacking), no caching of private pages, scripts, styles
  // and form targets from hearth only.
  res.SetHeader("Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                "form-action 'self'; frame-ancestors 'none'");
  res.SetHeader("X-Frame-Options", "DENY");
  res.SetHeader("X-Content-Type-Options", "nosniff");
  res.SetHeader("Referrer-Policy", "same-origin");
  res.SetHeader("Cache-Control", "no-store");
}

void Html(Response& res, int status, const std::string& document) {
  res.SetText(status, "text/html; charset=utf-8", document);
  Harden(res);
}

void SeeOther(Response& res, std::string_view to) {
  res.SetText(303, "text/plain; charset=utf-8", "See " + std::string(to) + "\n");
  res.SetHeader("Location", to);
  Harden(res);
}

std::string FormValue(const Form& form, std::string_view name) {
  for (const auto& [k, v] : form)
    if (k == name) return v;
  return "";
}

std::vector<std::string> FormValues(const Form& form, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : form)
    if (k == name) out.push_back(v);
  return out;
}

std::string SizeText(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

void SessionEventStream(PageContext& ctx, std::string comment, std::shared_ptr<void> keep,
                        std::function<void(std::string&)> next) {
  Response& res = *ctx.res;
  res.status = 200;
  res.SetHeader("Content-Type", "text/event-stream");
  res.SetHeader("X-Accel-Buffering", "no");
  Harden(res);
  res.body_kind = Response::BodyKind::kStream;
  res.stream_endless = true;
  store::Connection* rd =
      &ctx.shared->store->Reader(ctx.reader);  // the worker's: pulls run on its thread
  auto opened = std::make_shared<bool>(false);
  std::string hash = ctx.session.hash;
  res.stream = [rd, opened, hash, comment = std::move(comment), keep = std::move(keep),
                next = std::move(next)](std::string& out) {
    if (!*opened) {
      *opened = true;
      out += ": " + comment + "\n\n";  // the head and a first byte go out at once
    }
    if (!SessionLive(*rd, hash)) return false;
    next(out);
    return true;  // then wait for the next wake
  };
}

std::vector<std::string> CommaList(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = TrimOws(text.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return out;
}

std::string SegmentText(std::string_view seg) {
  return DecodePathSegment(seg);
}

std::string ApiError(int status, const nlohmann::json& body) {
  if (body.is_object() && body.contains("error") && body["error"].is_string())
    return body["error"].get<std::string>();
  if (body.is_object() && body.contains("message") && body["message"].is_string())
    return body["message"].get<std::string>();
  return "the API answered " + std::to_string(status);
}

std::string Date(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

}  // namespace hearth::admin

#pragma once
// What every console page handler shares: the request it answers, its
// session, the in-process control API, and the small helpers that answer
// (an HTML page with the console's headers, a redirect, a refusal).
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/session.h"
#include "data/app.h"
#include "http/router.h"
#include "sites/sites.h"

namespace hearth::admin {

using Form = std::vector<std::pair<std::string, std::string>>;

// A file posted in a multipart form: its input's name, the file's name as
// the browser sent it, its bytes.
struct FormFile {
  std::string field, filename, data;
};

struct PageContext {
  sites::SitesShared* shared = nullptr;
  data::Apps* apps = nullptr;  // the sites' app databases (the data pages)
  int reader = 0;
  const Handler* api = nullptr;  // the control API, no token check (the session is checked)
  Session session;
  Request* req = nullptr;
  Response* res = nullptr;
  std::vector<FormFile> files;  // a multipart post's files (its other parts are the Form)
};

// Headers every console answer carries (see docs/admin.md).
void Harden(Response& res);
// An HTML document with those headers.
void Html(Response& res, int status, const std::string& document);
// 303 to `to` (after a post: a reload never posts twice).
void SeeOther(Response& res, std::string_view to);

// Answers with an endless server-sent-event stream that lives as long as the
// session does. `comment` goes out at once (the client knows it is open);
// then each pull (after the stream's waker fires) runs `next`, which appends
// events to `out`, unless the session has ended (logged out, its admin
// removed or given a new password): then the stream ends. `keep` lives as
// long as the stream (a listener's guard).
void SessionEventStream(PageContext& ctx, std::string comment, std::shared_ptr<void> keep,
                        std::function<void(std::string& out)> next);

// The first value of `name` in a decoded form ("" if absent).
std::string FormValue(const Form& form, std::string_view name);
// Every value of `name` (a multi-select, a group of checkboxes).
std::vector<std::string> FormValues(const Form& form, std::string_view name);
// The items of a comma-separated list typed into a form ("a, b,,c" -> a, b, c):
// trimmed, empty ones dropped.
std::vector<std::string> CommaList(std::string_view text);
// A URL path segment, percent-decoded.
std::string SegmentText(std::string_view segment);
// The message of an API error answer ({error} or {message}), or the status.
std::string ApiError(int status, const nlohmann::json& body);
// "512 B", "97.7 KiB", "5.0 MiB".
std::string SizeText(int64_t bytes);
// "2026-11-23 17:05 UTC".
std::string Date(int64_t unix_seconds);

}  // namespace hearth::admin

#pragma once
// Calls a handler in-process with a request made here: the admin console's
// pages use the control API this way, with no socket and no token (the page
// has checked its session already). The API may answer at once or defer
// (writes go through the store's writer); either way `then` gets the status
// and the JSON body, and fills the page's response.
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "http/router.h"
#include "io/spool.h"

namespace hearth::admin {

using ApiThen = std::function<void(int status, const nlohmann::json& body, Response& page)>;

// `page` is the response being answered: deferred when the API defers (then
// `then` runs later on the connection's thread). `body`: JSON for POST and
// PATCH ("" for none), or of `content_type` when given.
void CallApi(const Handler& api, Method method, const std::string& path, const std::string& body,
             Response& page, ApiThen then, const std::string& content_type = "application/json");

// The same call for work that is not one page answer (a deploy's several
// steps): `done` gets the status and JSON body, at once or later on
// whichever thread finishes the API's answer (writes: the store's writer),
// so it should only record them and wake the page's own thread.
void CallApiAsync(const Handler& api, Method method, const std::string& path, std::string body,
                  std::function<void(int status, nlohmann::json body)> done);

// A call whose body is read from a spool a piece at a time (CallApiSpooled).
class SpooledCall {
 public:
  virtual ~SpooledCall() = default;
  // Feeds up to about `budget` more bytes of the body to the handler; true
  // once it has all been fed (or the handler answered without it). Call on
  // the thread that may read the spool.
  virtual bool Feed(size_t budget) = 0;
};

// CallApiAsync with a body read from `spool` [offset, offset + size): the
// handler sees the head and takes its body through Request::body_sink (as
// blob uploads do); the caller then feeds it with SpooledCall::Feed, a
// budget at a time, so the body is never whole in memory and the thread
// feeding it is never held long.
std::shared_ptr<SpooledCall> CallApiSpooled(
    const Handler& api, Method method, const std::string& path, std::shared_ptr<const Spool> spool,
    uint64_t offset, uint64_t size, std::function<void(int status, nlohmann::json body)> done);

}  // namespace hearth::admin

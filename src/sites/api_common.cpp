#include "sites/api_common.h"

namespace hearth::sites {

void Json(Response& res, int status, const nlohmann::json& body) {
  // Text from requests may be in it: invalid UTF-8 is replaced, never thrown on.
  res.SetText(status, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  res.SetHeader("Cache-Control", "no-store");
}

void Fail(Response& res, int status, const std::string& message) { Json(res, status, {{"error", message}}); }

void RoutingChanged(SitesShared* shared) {
  shared->generation.fetch_add(1, std::memory_order_release);
  if (shared->on_routing_changed) shared->on_routing_changed();
  shared->changes.Notify();
}

void SubmitWrite(SitesShared* shared, std::shared_ptr<Reply> reply, WriteFn fn, bool changes_routing) {
  auto outcome = std::make_shared<Outcome>();
  shared->store->SubmitWrite(
      [fn = std::move(fn), outcome](store::Connection& c) { return fn(c, outcome.get()); },
      [shared, reply, outcome, changes_routing](const Status& st) {
        if (st.ok() && outcome->after_commit) outcome->after_commit();
        if (st.ok() && changes_routing) RoutingChanged(shared);
        Outcome o = st.ok() ? *outcome
                            : Outcome{outcome->status >= 400 ? outcome->status : 500, {{"error", st.error().message}}, nullptr};
        reply->Finish([o](Response& r) { Json(r, o.status, o.body); });
      });
}

void DeferWrite(SitesShared* shared, Response& res, WriteFn fn, bool changes_routing) {
  SubmitWrite(shared, res.Defer(), std::move(fn), changes_routing);
}

Status Refuse(Outcome* o, int status, const std::string& message) {
  o->status = status;
  return Error{message};
}

}  // namespace hearth::sites

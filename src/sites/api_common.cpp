#include "sites/api_common.h"

namespace hearth::sites {

void RoutingChanged(SitesShared* shared) {
  shared->generation.fetch_add(1, std::memory_order_release);
  if (shared->on_routing_changed) shared->on_routing_changed();
  shared->changes.Notify();
}

void SubmitWrite(SitesShared* shared, std::shared_ptr<Reply> reply, WriteFn fn,
                 bool changes_routing) {
  std::function<void()> on_success;
  if (changes_routing) on_success = [shared] { RoutingChanged(shared); };
  api::SubmitWrite(shared->store, std::move(reply), std::move(fn), std::move(on_success));
}

void DeferWrite(SitesShared* shared, Response& res, WriteFn fn, bool changes_routing) {
  SubmitWrite(shared, res.Defer(), std::move(fn), changes_routing);
}

}  // namespace hearth::sites

#include "sites/api_common.h"

namespace hearth::sites {

Result<int64_t> SiteId(store::Connection& c, const std::string& name, int64_t* live) {
  store::Statement st = c.Named("sites.by_name");
  st.Bind(1, name);
  Status s = OkStatus();
  if (!st.Step(&s)) {
    if (!s.ok()) return s.error();
    return Error{"no site named " + name};
  }
  if (live) *live = st.IsNull(1) ? 0 : st.Int(1);
  return st.Int(0);
}

Status CreateSite(store::Connection& c, const std::string& name,
                  const std::vector<std::string>& hosts, Outcome* o, int64_t* id_out) {
  for (const auto& h : hosts) {
    store::Statement taken = c.Named("hosts.lookup");
    taken.Bind(1, h);
    Status s = OkStatus();
    if (taken.Step(&s)) return Refuse(o, 409, "host " + h + " already belongs to a site");
  }
  if (Status st = c.Named("sites.insert").Bind(1, name).Run(); !st.ok()) return st;
  int64_t id = c.LastInsertRowid();
  for (const auto& h : hosts)
    if (Status st = c.Named("hosts.insert").Bind(1, h).Bind(2, id).Run(); !st.ok()) return st;
  if (id_out) *id_out = id;
  return OkStatus();
}

Status SweepBlobs(store::Connection& c) {
  auto swept = c.DeleteCollectedBlobs();
  return swept.ok() ? OkStatus() : Status(swept.error());
}

void RoutingChanged(SitesShared* shared) {
  shared->generation.fetch_add(1, std::memory_order_release);
  if (shared->on_routing_changed) shared->on_routing_changed();
  shared->changes.Notify();
}

void ObserveRouting(SitesShared* shared, store::Store* store) {
  store::Observers::Observer o;
  o.wants = [](std::string_view t) { return t == "sites" || t == "site_hosts" || t == "versions"; };
  o.row = [](store::Connection&, const store::RowChange&) {};
  o.end = [shared](store::Connection&) { RoutingChanged(shared); };  // once per entry
  store->observers().Add(std::move(o));
}

void SubmitWrite(SitesShared* shared, std::shared_ptr<Reply> reply, WriteFn fn,
                 bool /*changes_routing*/) {
  api::SubmitWrite(shared->store, std::move(reply), std::move(fn));
}

void DeferWrite(SitesShared* shared, Response& res, WriteFn fn, bool changes_routing) {
  SubmitWrite(shared, res.Defer(), std::move(fn), changes_routing);
}

}  // namespace hearth::sites

#include "data/realtime.h"

#include "data/schema.h"

namespace hearth::data {

std::shared_ptr<Realtime::Client> Realtime::Connect(std::function<void()> wake) {
  auto c = std::make_shared<Client>();
  c->id = NewRecordId() + NewRecordId();  // 30 characters: not guessable
  c->wake = std::move(wake);
  c->pending = "id:" + c->id + "\nevent:PB_CONNECT\ndata:" + nlohmann::json({{"clientId", c->id}}).dump() + "\n\n";
  std::lock_guard<std::mutex> lock(mu_);
  if (clients_.size() >= kMaxClients) return nullptr;
  clients_[c->id] = c;
  return c;
}

void Realtime::Disconnect(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  clients_.erase(id);
}

bool Realtime::Subscribe(const std::string& id, std::vector<std::string> topics, bool superuser,
                         nlohmann::json auth) {
  std::shared_ptr<Client> c;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = clients_.find(id);
    if (it == clients_.end()) return false;
    c = it->second;
  }
  std::lock_guard<std::mutex> lock(c->mu);
  c->topics = std::move(topics);
  c->superuser = superuser;
  c->auth_key = auth.is_object() ? auth.value("collectionId", "") + "/" + auth.value("id", "") : "";
  c->auth = std::move(auth);
  return true;
}

std::vector<nlohmann::json> Realtime::Identities(const std::string& collection) const {
  std::vector<std::shared_ptr<Client>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, c] : clients_) all.push_back(c);
  }
  std::map<std::string, nlohmann::json> seen;
  std::string prefix = collection + "/";
  for (auto& c : all) {
    std::lock_guard<std::mutex> lock(c->mu);
    if (c->superuser || seen.count(c->auth_key)) continue;
    for (const auto& t : c->topics)
      if (t.rfind(prefix, 0) == 0) {
        seen[c->auth_key] = c->auth;
        break;
      }
    if (seen.size() >= 256) break;  // more identities than that see nothing until they resubscribe
  }
  std::vector<nlohmann::json> out;
  for (auto& [k, v] : seen) out.push_back(v);
  return out;
}

size_t Realtime::clients() const {
  std::lock_guard<std::mutex> lock(mu_);
  return clients_.size();
}

// Called with c.mu held.
void Realtime::Send(Client& c, const std::string& topic, const std::string& data) {
  if (c.dropped) return;
  bool was_empty = c.pending.empty();
  c.pending += "id:" + c.id + "\nevent:" + topic + "\ndata:" + data + "\n\n";
  if (c.pending.size() > kMaxPending) {
    // A subscriber that does not read is dropped before it holds more.
    c.dropped = true;
    c.pending.clear();
  }
  if (was_empty || c.dropped) c.wake();
}

void Realtime::PublishRecord(const std::string& collection, const std::string& action,
                             const nlohmann::json& record, const Visibility& visibility) {
  std::vector<std::shared_ptr<Client>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.reserve(clients_.size());
    for (auto& [id, c] : clients_) all.push_back(c);
  }
  if (all.empty()) return;
  std::string data = nlohmann::json({{"action", action}, {"record", record}}).dump();
  std::string id = record.value("id", "");
  std::string any = collection + "/*", one = collection + "/" + id;
  for (auto& c : all) {
    std::lock_guard<std::mutex> lock(c->mu);
    auto vis = visibility.find(c->auth_key);
    bool list_ok = vis != visibility.end() && vis->second.first;
    bool view_ok = vis != visibility.end() && vis->second.second;
    for (const auto& topic : c->topics) {
      std::string_view base(topic);
      base = base.substr(0, base.find('?'));
      bool allowed;
      if (base == any) allowed = c->superuser || list_ok;
      else if (base == one) allowed = c->superuser || view_ok;
      else continue;
      if (allowed) Send(*c, topic, data);
    }
  }
}

void Realtime::PublishSchema(const nlohmann::json& change) {
  std::vector<std::shared_ptr<Client>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, c] : clients_) all.push_back(c);
  }
  std::string data = change.dump();
  for (auto& c : all) {
    std::lock_guard<std::mutex> lock(c->mu);
    if (!c->superuser) continue;
    for (const auto& topic : c->topics)
      if (topic == "@schema" || topic.rfind("@schema?", 0) == 0) Send(*c, topic, data);
  }
}

}  // namespace hearth::data

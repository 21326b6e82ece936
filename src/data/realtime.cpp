#include "data/realtime.h"

#include <algorithm>

#include "base/strings.h"
#include "data/schema.h"

namespace hearth::data {
namespace {

// The filter in a topic's "?options=<url-encoded JSON>" ({"query": {"filter": ...}}).
std::string TopicFilter(const std::string& topic) {
  size_t q = topic.find('?');
  if (q == std::string::npos) return {};
  std::vector<std::pair<std::string, std::string>> params;
  if (!ParseQueryString(std::string_view(topic).substr(q + 1), &params)) return {};
  for (const auto& [k, v] : params) {
    if (k != "options") continue;
    auto options = nlohmann::json::parse(v, nullptr, false);
    if (options.is_object() && options["query"].is_object() && options["query"]["filter"].is_string())
      return options["query"]["filter"].get<std::string>();
  }
  return {};
}

}  // namespace

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
  c->filters.clear();
  for (const auto& t : topics) c->filters.push_back(TopicFilter(t));
  c->topics = std::move(topics);
  c->superuser = superuser;
  c->auth_key = auth.is_object() ? auth.value("collectionId", "") + "/" + auth.value("id", "") : "";
  c->auth = std::move(auth);
  return true;
}

std::vector<Realtime::Viewer> Realtime::Identities(const std::string& collection) const {
  std::vector<std::shared_ptr<Client>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, c] : clients_) all.push_back(c);
  }
  std::map<std::string, Viewer> seen;
  std::string prefix = collection + "/";
  for (auto& c : all) {
    std::lock_guard<std::mutex> lock(c->mu);
    for (size_t i = 0; i < c->topics.size(); ++i) {
      if (c->topics[i].rfind(prefix, 0) != 0) continue;
      // Superusers are one identity to which no rule applies (only filters).
      std::string key = c->superuser ? std::string(kSuperuserKey) : c->auth_key;
      if (!seen.count(key) && seen.size() >= 256) break;  // beyond that: nothing until they resubscribe
      Viewer& v = seen[key];
      v.auth = c->superuser ? nlohmann::json() : c->auth;
      v.key = key;
      if (std::find(v.filters.begin(), v.filters.end(), c->filters[i]) == v.filters.end() && v.filters.size() < 64)
        v.filters.push_back(c->filters[i]);
    }
  }
  std::vector<Viewer> out;
  for (auto& [k, v] : seen) out.push_back(std::move(v));
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
    for (size_t i = 0; i < c->topics.size(); ++i) {
      const std::string& topic = c->topics[i];
      std::string_view base(topic);
      base = base.substr(0, base.find('?'));
      if (base != any && base != one) continue;
      auto vis = visibility.find(VisibilityKey(c->superuser ? std::string(kSuperuserKey) : c->auth_key, c->filters[i]));
      bool allowed = vis != visibility.end() && (base == any ? vis->second.first : vis->second.second);
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

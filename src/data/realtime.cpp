#include "data/realtime.h"

#include <algorithm>
#include <set>

#include "base/json.h"
#include "base/log.h"
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
    auto parsed = ParseJson(v, JsonLimits{8, 1000});
    if (!parsed.ok()) continue;
    nlohmann::json& options = *parsed;
    if (options.is_object() && options["query"].is_object() &&
        options["query"]["filter"].is_string())
      return options["query"]["filter"].get<std::string>();
  }
  return {};
}

}  // namespace

Realtime::Realtime() {
  dispatcher_ = std::thread([this] { DispatchLoop(); });
}

Realtime::~Realtime() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stop_ = true;
  }
  queue_cv_.notify_all();
  dispatcher_.join();
}

std::shared_ptr<Realtime::Client> Realtime::Connect(std::function<void()> wake) {
  auto c = std::make_shared<Client>();
  c->id = NewRecordId() + NewRecordId();  // 30 characters: not guessable
  c->wake = std::move(wake);
  c->pending = "id:" + c->id +
               "\nevent:PB_CONNECT\ndata:" + nlohmann::json({{"clientId", c->id}}).dump() + "\n\n";
  std::lock_guard<std::mutex> lock(mu_);
  if (clients_.size() >= kMaxClients) return nullptr;
  clients_[c->id] = c;
  return c;
}

void Realtime::Disconnect(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  clients_.erase(id);
}

namespace {

// "posts/*?options=..." -> "posts".
std::string_view TopicCollection(std::string_view topic) {
  topic = topic.substr(0, topic.find('?'));
  size_t slash = topic.find('/');
  return slash == std::string_view::npos ? std::string_view() : topic.substr(0, slash);
}

}  // namespace

std::string Realtime::Subscribe(const std::string& id, std::vector<std::string> topics, Who who,
                                int* status) {
  size_t bytes = 0;
  for (const auto& t : topics) bytes += t.size();
  if (bytes > kMaxTopicBytes) {
    *status = 400;
    return "A client's subscriptions may take at most " + std::to_string(kMaxTopicBytes >> 10) +
           " KiB.";
  }
  std::vector<std::string> filters;
  for (const auto& t : topics) filters.push_back(TopicFilter(t));
  std::string key = who.superuser          ? std::string()
                    : who.auth.is_object() ? who.auth.value("collectionId", "") + "/" +
                                                 who.auth.value("id", "") + "/" + who.token_key
                                           : "";
  std::string budget = who.superuser ? std::string() : !key.empty() ? key : "net:" + who.network;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = clients_.find(id);
  if (it == clients_.end()) {
    *status = 404;
    return "Missing or invalid client id.";
  }
  std::shared_ptr<Client> c = it->second;
  if (!budget.empty()) {
    // Each distinct filter costs the dispatcher a check per event: counted
    // across every client of the same identity (or, for guests, the same
    // network), so opening more connections buys no more, and nobody else's
    // subscriptions are refused for it.
    std::set<std::string> distinct;
    for (const auto& f : filters)
      if (!f.empty()) distinct.insert(f);
    for (const auto& [cid, other] : clients_) {
      if (other == c) continue;
      std::lock_guard<std::mutex> other_lock(other->mu);
      if (other->budget != budget) continue;
      for (const auto& f : other->filters)
        if (!f.empty()) distinct.insert(f);
    }
    size_t limit = key.empty() ? kMaxGuestFilters : kMaxFilters;
    if (distinct.size() > limit) {
      *status = 429;
      return "At most " + std::to_string(limit) + " distinct realtime filters " +
             (key.empty() ? "for the guests of one network." : "per account.");
    }
  }
  std::lock_guard<std::mutex> client_lock(c->mu);
  c->filters = std::move(filters);
  c->topics = std::move(topics);
  c->superuser = who.superuser;
  c->auth_key = key;
  c->budget = std::move(budget);
  c->token_key = who.superuser ? std::string() : std::move(who.token_key);
  c->authorization = std::move(who.authorization);
  c->auth = who.superuser ? nlohmann::json() : std::move(who.auth);
  return "";
}

std::vector<Realtime::Viewer> Realtime::Identities(const std::string& collection) const {
  std::vector<std::shared_ptr<Client>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, c] : clients_) all.push_back(c);
  }
  std::map<std::string, Viewer> seen;
  for (auto& c : all) {
    std::lock_guard<std::mutex> lock(c->mu);
    for (size_t i = 0; i < c->topics.size(); ++i) {
      if (TopicCollection(c->topics[i]) != collection) continue;
      // Superusers are one identity to which no rule applies (only filters).
      std::string key = c->superuser ? std::string(kSuperuserKey) : c->auth_key;
      Viewer& v = seen[key];
      v.auth = c->superuser ? nlohmann::json() : c->auth;
      v.token_key = c->token_key;
      v.key = key;
      if (std::find(v.filters.begin(), v.filters.end(), c->filters[i]) == v.filters.end())
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

void Realtime::Publish(std::vector<Event> events) {
  if (events.empty()) return;
  std::set<std::string> behind;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (queue_.size() >= kMaxQueuedCommits) {
      for (const auto& batch : queue_)
        for (const auto& e : batch) behind.insert(e.collection);
      for (const auto& e : events) behind.insert(e.collection);
      queue_.clear();
    } else {
      queue_.push_back(std::move(events));
    }
  }
  if (!behind.empty()) {
    Log(LogLevel::kWarn,
        "realtime: the dispatcher fell behind; the clients of the collections behind are dropped "
        "and will reconnect");
    DropSubscribersOf(behind);
  }
  queue_cv_.notify_one();
}

void Realtime::DropSubscribersOf(const std::set<std::string>& collections) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, c] : clients_) {
    std::lock_guard<std::mutex> client_lock(c->mu);
    if (c->dropped) continue;
    bool subscribed = false;
    for (const auto& t : c->topics)
      subscribed |= collections.count(std::string(TopicCollection(t))) > 0;
    if (!subscribed) continue;
    c->dropped = true;
    c->pending.clear();
    c->wake();
  }
}

void Realtime::Drain() {
  std::unique_lock<std::mutex> lock(queue_mu_);
  idle_cv_.wait(lock, [&] { return stop_ || (queue_.empty() && !busy_); });
}

void Realtime::DispatchLoop() {
  while (true) {
    std::vector<Event> batch;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      busy_ = false;
      idle_cv_.notify_all();
      queue_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) {
        idle_cv_.notify_all();
        return;
      }
      batch = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    for (const Event& e : batch) Deliver(e);
  }
}

// On the dispatcher thread: one event to every client whose identity and
// filter the Judge lets see it, as that identity sees it.
void Realtime::Deliver(const Event& event) {
  auto viewers = Identities(event.collection);
  if (viewers.empty() || !judge_) return;
  Verdict verdict = judge_(event, viewers);
  std::vector<std::shared_ptr<Client>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    all.reserve(clients_.size());
    for (auto& [id, c] : clients_) all.push_back(c);
  }
  std::string id = event.record.value("id", "");
  std::string any = event.collection + "/*", one = event.collection + "/" + id;
  for (auto& c : all) {
    std::lock_guard<std::mutex> lock(c->mu);
    std::string key = c->superuser ? std::string(kSuperuserKey) : c->auth_key;
    if (!c->dropped && verdict.stale.count(key)) {
      c->dropped = true;
      c->pending.clear();
      c->wake();
      continue;
    }
    auto data = verdict.data.find(key);
    if (data == verdict.data.end()) continue;
    for (size_t i = 0; i < c->topics.size(); ++i) {
      const std::string& topic = c->topics[i];
      std::string_view base(topic);
      base = base.substr(0, base.find('?'));
      if (base != any && base != one) continue;
      auto vis = verdict.visibility.find(VisibilityKey(key, c->filters[i]));
      bool allowed =
          vis != verdict.visibility.end() && (base == any ? vis->second.first : vis->second.second);
      if (allowed) Send(*c, topic, data->second);
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

#pragma once
// Realtime: one app's server-sent-event clients, PocketBase's protocol.
//
//   GET  /api/realtime   opens a stream; the first event is PB_CONNECT with
//                        the client's id
//   POST /api/realtime   {clientId, subscriptions:[...]} replaces its topics:
//                        "posts/*", "posts/RECORD_ID", each optionally with
//                        "?options={"query":{"filter":"..."}}" (URL-encoded, as
//                        the SDK sends it): only records matching the filter,
//                        "@schema" (collection changes)
//
// Events come from the write path: after a commit, the app's writer thread
// publishes what changed ({action, record}); each client gets it under the
// exact topic string it subscribed with, if the collection's rules let it see
// the record (list rule for "/*", view rule for "/ID"; superusers see all).
//
// Memory: a client holds only the events its connection has not yet taken;
// past kMaxPending bytes (a reader that stopped reading) it is dropped and its
// stream ends. An idle client costs its connection and this small struct.
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hearth::data {

class Realtime {
 public:
  static constexpr size_t kMaxPending = 1 << 20;
  static constexpr size_t kMaxClients = 20000;
  static constexpr size_t kMaxTopics = 1000;
  static constexpr const char* kSuperuserKey = "@superuser";  // Viewer::key of superusers

  struct Client {
    std::string id;
    std::function<void()> wake;  // drives the client's connection (any thread)
    std::mutex mu;
    std::string pending;  // events not yet taken by the connection
    bool dropped = false;
    bool superuser = false;
    nlohmann::json auth;   // the signed-in record it subscribed with, or null
    std::string auth_key;  // "collectionId/id", "" for a guest
    std::vector<std::string> topics;
    std::vector<std::string> filters;  // per topic: its options' filter, or ""
  };
  // One subscriber identity and the filters its topics on a collection use.
  struct Viewer {
    nlohmann::json auth;
    std::string key;                   // Client::auth_key
    std::vector<std::string> filters;  // distinct; "" for topics without one
  };
  // What each identity among the subscribers may see of one record:
  // {list rule (and filter) passes, view rule (and filter) passes}, by
  // VisibilityKey(auth_key, filter).
  using Visibility = std::map<std::string, std::pair<bool, bool>>;

  // A new client (null when there are kMaxClients already). Its PB_CONNECT
  // event is already pending.
  std::shared_ptr<Client> Connect(std::function<void()> wake);
  void Disconnect(const std::string& id);
  // Replaces client `id`'s topics; false if there is no such client.
  bool Subscribe(const std::string& id, std::vector<std::string> topics, bool superuser, nlohmann::json auth);
  // The distinct identities (null for guests) subscribed to `collection`
  // that are not superusers: whose view of a change must be decided.
  std::vector<Viewer> Identities(const std::string& collection) const;
  static std::string VisibilityKey(const std::string& auth_key, const std::string& filter) {
    return auth_key + "\n" + filter;
  }

  // A committed record change; `visibility` from Identities() (an identity
  // not in it sees nothing).
  void PublishRecord(const std::string& collection, const std::string& action, const nlohmann::json& record,
                     const Visibility& visibility);
  // A committed collection change, to "@schema" subscribers (superusers only).
  void PublishSchema(const nlohmann::json& change);

  size_t clients() const;

 private:
  void Send(Client& c, const std::string& topic, const std::string& data);

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Client>> clients_;
};

}  // namespace hearth::data

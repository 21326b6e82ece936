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
// hands what changed ({action, record}, the whole record) to this app's
// dispatcher thread, one batch per commit, and goes on with the next write.
// The dispatcher decides, once per distinct subscriber identity (a signed-in
// record, all guests, all superusers) and filter, whether the collection's
// rule and the filter let it see the record (list rule for "/*", view rule
// for "/ID"; superusers skip the rules), and renders the record as that
// identity may see it (a hidden email is not in it): the Judge, set by the
// records code. Each client gets its identity's rendering under the exact
// topic string it subscribed with.
//
// Who a subscriber is, is checked again for every commit: a signed-in
// record is read afresh (a changed role counts at once; a deleted record or
// a new password, which draws a new tokenKey, sees nothing more), and a
// superuser's token is checked again by the stream before it sends (a
// revoked token ends the stream).
//
// Caps, each refused visibly: kMaxTopicBytes of topics per client (400);
// kMaxFilters distinct filters per signed-in identity, or kMaxGuestFilters
// per client network for guests (an IPv4 address, an IPv6 /48), across all
// their clients (429): each costs the dispatcher a check per event, and a
// budget per identity cannot be used up by others;
// kMaxQueuedCommits commits waiting for the dispatcher (past it the clients
// of the collections behind are dropped: their streams end and the SDK
// reconnects, rather than events being lost silently).
//
// Memory: a client holds only the events its connection has not yet taken;
// past kMaxPending bytes (a reader that stopped reading) it is dropped and its
// stream ends. An idle client costs its connection and this small struct.
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace hearth::data {

class Realtime {
 public:
  static constexpr size_t kMaxPending = 1 << 20;
  static constexpr size_t kMaxClients = 20000;
  static constexpr size_t kMaxTopics = 1000;
  static constexpr size_t kMaxFilters = 32;        // per signed-in record
  static constexpr size_t kMaxGuestFilters = 256;  // per guest network (many people behind one NAT)
  static constexpr size_t kMaxTopicBytes = 64 << 10;
  static constexpr size_t kMaxQueuedCommits = 4096;
  static constexpr const char* kSuperuserKey = "@superuser";  // Viewer::key of superusers

  struct Client {
    std::string id;
    std::function<void()> wake;  // drives the client's connection (any thread)
    std::mutex mu;
    std::string pending;  // events not yet taken by the connection
    bool dropped = false;
    bool superuser = false;
    nlohmann::json auth;    // the signed-in record it subscribed with, or null
    std::string auth_key;   // "collectionId/id/tokenKey", "" for a guest
    std::string token_key;  // the record's tokenKey when it subscribed
    std::string budget;     // whose filter budget it spends: auth_key, or "net:" + network
    std::string
        authorization;  // the Authorization it subscribed with (a superuser's, checked again)
    std::vector<std::string> topics;
    std::vector<std::string> filters;  // per topic: its options' filter, or ""
  };
  // One subscriber identity and the filters its topics on a collection use.
  struct Viewer {
    nlohmann::json auth;               // as it subscribed: the Judge reads it afresh
    std::string token_key;             // the tokenKey it subscribed with
    std::string key;                   // Client::auth_key, or kSuperuserKey
    std::vector<std::string> filters;  // distinct; "" for topics without one
  };
  // One committed change of a record: the record whole (as superusers see it).
  struct Event {
    std::string collection, action;
    nlohmann::json record;
  };
  // What the identities among a collection's subscribers may see of one
  // event: by VisibilityKey(identity key, filter), {list rule and filter
  // pass, view rule and filter pass}; by identity key, the event's data as
  // that identity sees it. An identity or filter missing sees nothing.
  struct Verdict {
    std::map<std::string, std::pair<bool, bool>> visibility;
    std::map<std::string, std::string> data;
    // Identities that are no longer who they subscribed as (a deleted
    // record, a new password): their clients are dropped, and the SDK
    // reconnects as whoever its token now makes it.
    std::set<std::string> stale;
  };
  // Runs on the dispatcher thread only.
  using Judge = std::function<Verdict(const Event&, const std::vector<Viewer>&)>;

  Realtime();
  ~Realtime();  // ends the dispatcher (what is queued is dropped)
  // Set once, before the first Publish.
  void SetJudge(Judge judge) { judge_ = std::move(judge); }

  // A new client (null when there are kMaxClients already). Its PB_CONNECT
  // event is already pending.
  std::shared_ptr<Client> Connect(std::function<void()> wake);
  void Disconnect(const std::string& id);
  // Who subscribes: a superuser, or a signed-in record (with its tokenKey),
  // or a guest; from which client network; with which Authorization.
  struct Who {
    bool superuser = false;
    nlohmann::json auth;
    std::string token_key, network, authorization;
  };
  // Replaces client `id`'s topics. "" when done; else why not, with the
  // status to answer (404: no such client; 400: over kMaxTopicBytes; 429:
  // over kMaxFilters or kMaxGuestFilters).
  std::string Subscribe(const std::string& id, std::vector<std::string> topics, Who who,
                        int* status);
  // The distinct identities (superusers are one, with key kSuperuserKey)
  // subscribed to `collection`, with the filters their topics use.
  std::vector<Viewer> Identities(const std::string& collection) const;
  static std::string VisibilityKey(const std::string& auth_key, const std::string& filter) {
    return auth_key + "\n" + filter;
  }

  // One commit's record changes, from the writer thread after the commit:
  // queued for the dispatcher (any thread).
  void Publish(std::vector<Event> events);
  // A committed collection change, to "@schema" subscribers (superusers only).
  void PublishSchema(const nlohmann::json& change);
  // Waits until everything published so far has been delivered (tests).
  void Drain();

  size_t clients() const;

 private:
  void Send(Client& c, const std::string& topic, const std::string& data);
  void Deliver(const Event& event);
  void DispatchLoop();
  void DropSubscribersOf(const std::set<std::string>& collections);

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Client>> clients_;
  Judge judge_;
  // The dispatcher's queue: one entry per commit.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_, idle_cv_;
  std::deque<std::vector<Event>> queue_;
  bool busy_ = false, stop_ = false;
  std::thread dispatcher_;
};

}  // namespace hearth::data

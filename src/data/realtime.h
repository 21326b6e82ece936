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
// Caps, each refused visibly: kMaxClientFilters distinct filters per client
// (400), kMaxViews distinct (identity, filter) pairs per collection (503),
// kMaxQueuedCommits commits waiting for the dispatcher (past it every client
// is dropped: its stream ends and the SDK reconnects, rather than events
// being lost silently).
//
// Memory: a client holds only the events its connection has not yet taken;
// past kMaxPending bytes (a reader that stopped reading) it is dropped and its
// stream ends. An idle client costs its connection and this small struct.
#include <nlohmann/json.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hearth::data {

class Realtime {
 public:
  static constexpr size_t kMaxPending = 1 << 20;
  static constexpr size_t kMaxClients = 20000;
  static constexpr size_t kMaxTopics = 1000;
  static constexpr size_t kMaxClientFilters = 16;
  static constexpr size_t kMaxViews = 1024;
  static constexpr size_t kMaxQueuedCommits = 4096;
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
  // Replaces client `id`'s topics. "" when done; else why not, with the
  // status to answer (404: no such client; 400: over kMaxClientFilters;
  // 503: over kMaxViews).
  std::string Subscribe(const std::string& id, std::vector<std::string> topics, bool superuser, nlohmann::json auth,
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
  void DropAll();

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

// The `changes` service: the change stream's local log (DATA/log) and the one
// index sequence, started before the store so that every database opens
// inside the stream. On only with --change-log (the streaming backup and the
// cluster will turn it on as well). Stopped after the store: the writers
// finish their last entries first, then the log syncs and closes.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "base/log.h"
#include "crypto/random.h"
#include "server/parts.h"
#include "store/backup.h"
#include "store/sqlite.h"
#include "stream/log.h"
#include "stream/uploader.h"

namespace hearth {
namespace {

// This node's id: made once, kept in DATA/node-id (not in any database, so a
// restored or copied folder keeps the node it runs on apart from the
// origin's entries... and a copied folder should be given a new one).
Result<uint64_t> NodeId(const std::string& data) {
  const std::string path = data + "/node-id";
  std::ifstream in(path);
  std::string text;
  if (in && std::getline(in, text)) {
    uint64_t id = 0;
    if (sscanf(text.c_str(), "%" SCNx64, &id) == 1 && id != 0) return id;
    return Error{path + " does not hold a node id (16 hex digits): remove it to make a new one"};
  }
  uint64_t id = 0;
  while (id == 0) crypto::RandomBytes(&id, sizeof id);
  char buf[32];
  snprintf(buf, sizeof buf, "%016" PRIx64 "\n", id);
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Error{"cannot write " + tmp};
  bool ok = write(fd, buf, strlen(buf)) == static_cast<ssize_t>(strlen(buf)) && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) return Error{"cannot write " + path};
  return id;
}

// The last index a database holds, read without taking any lock a writer
// would need (0 for a database from before the stream).
Result<uint64_t> PeekLastIndex(const std::string& path) {
  auto c = store::Connection::Open(path, store::Connection::Mode::kReadOnly);
  if (!c.ok()) return c.error();
  auto has =
      (*c)->Prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_hearth_stream'");
  if (!has.ok()) return has.error();
  Status s = OkStatus();
  if (!has->Step(&s)) return s.ok() ? Result<uint64_t>(uint64_t{0}) : Result<uint64_t>(s.error());
  has->Reset();
  auto q = (*c)->Prepare("SELECT last_index FROM _hearth_stream WHERE one = 1");
  if (!q.ok()) return q.error();
  uint64_t last = q->Step(&s) ? static_cast<uint64_t>(q->Int(0)) : 0;
  if (!s.ok()) return s.error();
  return last;
}

class Changes : public Service {
 public:
  explicit Changes(Parts* p) : p_(p) {}
  std::string_view name() const override { return "changes"; }
  Status Start() override {
    const std::string& data = p_->settings.data;
    auto node = NodeId(data);
    if (!node.ok()) return node.error();
    auto log = stream::LocalLog::Open(data + "/log");
    if (!log.ok()) return log.error();
    // Every database's position, to find a last entry that never committed
    // and a database that is ahead of the log (which then starts over).
    std::map<std::string, uint64_t> held;
    uint64_t top = 0;
    auto peek = [&](const std::string& name, const std::string& path) -> Status {
      if (access(path.c_str(), F_OK) != 0) return OkStatus();  // not made yet
      auto last = PeekLastIndex(path);
      if (!last.ok()) return Error{path + ": " + last.error().message};
      held[name] = *last;
      top = std::max(top, *last);
      return OkStatus();
    };
    if (Status s = peek("hearth.db", data + "/hearth.db"); !s.ok()) return s;
    for (const auto& app : store::AppDatabases(data))
      if (Status s = peek(app.name, app.path); !s.ok()) return s;  // "apps/<file>"
    auto tail = (*log)->DropUncommittedTail(held);
    if (!tail.ok()) return tail.error();
    // The backup already holds entries the log no longer has (a power loss
    // took a commit the database lost too): reusing their indexes in this
    // generation would leave the backup with the lost ones. A new generation.
    stream::UploadedPosition up = stream::ReadUploadedPosition(data + "/log");
    if (up.generation != 0 && up.generation == (*log)->generation() &&
        (*log)->last_index() < up.index)
      (*log)->Break("the backup holds entries up to " + std::to_string(up.index) +
                    " that the log lost");
    if (tail->dropped || tail->new_generation)
      Log(LogLevel::kWarn, "change log: recovered", {{"why", tail->why}});
    uint64_t next = std::max(top, (*log)->last_index()) + 1;
    p_->change_log = std::move(log).value();
    p_->sequencer = std::make_unique<store::Sequencer>(next, p_->change_log->last_time_us());
    p_->stream = std::make_shared<store::StreamContext>();
    p_->stream->sequencer = p_->sequencer.get();
    p_->stream->sink = p_->change_log.get();
    p_->stream->node_id = *node;
    Log(LogLevel::kInfo, "change log open",
        {{"dir", data + "/log"},
         {"next_index", static_cast<int64_t>(next)},
         {"new_generation", tail->new_generation || p_->change_log->broken()}});
    return OkStatus();
  }
  void Stop() override {
    p_->stream.reset();
    p_->sequencer.reset();
    p_->change_log.reset();  // a last sync, then closed
  }

 private:
  Parts* p_;
};

}  // namespace

std::unique_ptr<Service> ChangesService(Parts* p) {
  return std::make_unique<Changes>(p);
}

}  // namespace hearth

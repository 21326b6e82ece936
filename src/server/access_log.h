#pragma once
// The access log: one NDJSON line per answered request. Workers build lines in
// their own buffer and hand a batch over once per event-loop pass; the file is
// opened with O_APPEND so batches from different workers never overwrite each
// other. Reopen() (on SIGHUP) lets logrotate move the file away.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "http/request.h"
#include "io/out_queue.h"

namespace hearth {

class AccessLog {
 public:
  // target: "off", "stderr" or a path.
  Status Open(const std::string& target);
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  void Write(const std::string& batch);

 private:
  std::atomic<bool> enabled_{false};
  std::mutex mu_;
  std::shared_ptr<SharedFd> fd_;
  std::string target_;
};

// Appends one NDJSON line for a request to `out`.
void AppendAccessLine(std::string* out, const Request& req, int status, uint64_t bytes,
                      int64_t micros);

}  // namespace hearth

#include "server/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/strings.h"

namespace hearth {

Status AccessLog::Open(const std::string& target) {
  std::shared_ptr<SharedFd> fd;
  if (target == "off") {
    // nothing
  } else if (target == "stderr") {
    fd = std::make_shared<SharedFd>(dup(2));
  } else {
    int f = open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (f < 0) return Error{"cannot open access log \"" + target + "\": " + strerror(errno)};
    fd = std::make_shared<SharedFd>(f);
  }
  std::lock_guard<std::mutex> lock(mu_);
  fd_ = std::move(fd);
  target_ = target;
  enabled_.store(fd_ != nullptr);
  return OkStatus();
}

void AccessLog::Write(const std::string& batch) {
  std::shared_ptr<SharedFd> fd;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fd = fd_;
  }
  if (!fd) return;
  const char* p = batch.data();
  size_t left = batch.size();
  while (left > 0) {
    ssize_t n = ::write(fd->fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

namespace {
void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {  // keep the line valid JSON whatever a client sends
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}
}  // namespace

void AppendAccessLine(std::string* out, const Request& req, int status, uint64_t bytes,
                      int64_t micros) {
  out->append("{\"ts\":\"");
  out->append(FormatIso8601(WallNowMicros()));
  out->append("\",\"ip\":");
  AppendJsonString(out, req.ClientIp());
  out->append(",\"method\":");
  AppendJsonString(out, req.method_text);
  out->append(",\"host\":");
  AppendJsonString(out, req.HostName());
  out->append(",\"path\":");
  AppendJsonString(out, req.path);
  out->append(",\"proto\":\"HTTP/1.");
  out->push_back(req.version_minor == 0 ? '0' : '1');
  out->append("\",\"status\":");
  AppendUint(out, static_cast<uint64_t>(status));
  out->append(",\"bytes\":");
  AppendUint(out, bytes);
  out->append(",\"duration_us\":");
  AppendUint(out, static_cast<uint64_t>(micros < 0 ? 0 : micros));
  out->append(",\"ua\":");
  AppendJsonString(out, req.Header("User-Agent"));
  out->append(",\"referer\":");
  AppendJsonString(out, req.Header("Referer"));
  out->append("}\n");
}

}  // namespace hearth

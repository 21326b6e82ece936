#include "s3/transport.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/strings.h"
#include "io/curl_lib.h"

namespace hearth::s3 {

std::string HttpAnswer::Header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return "";
}

namespace {

struct Exchange {
  const CurlLib* lib = nullptr;
  CURL* curl = nullptr;
  const HttpCall* call = nullptr;
  HttpAnswer* answer = nullptr;
  uint64_t sent = 0;  // of the body
  int in_fd = -1;
  int out_fd = -1;
  std::string error;  // why a callback stopped the transfer
};

size_t OnRead(char* buf, size_t size, size_t n, void* arg) {
  auto* x = static_cast<Exchange*>(arg);
  uint64_t left = x->call->BodySize() - x->sent;
  size_t want = static_cast<size_t>(std::min<uint64_t>(left, size * n));
  if (want == 0) return 0;
  if (x->in_fd < 0) {
    memcpy(buf, x->call->body.data() + x->sent, want);
  } else {
    ssize_t got;
    do {
      got = pread(x->in_fd, buf, want, static_cast<off_t>(x->call->body_offset + x->sent));
    } while (got < 0 && errno == EINTR);
    if (got <= 0) {
      x->error = "cannot read " + x->call->body_file +
                 (got < 0 ? ": " + std::string(strerror(errno)) : ": the file got shorter");
      return CURL_READFUNC_ABORT;
    }
    want = static_cast<size_t>(got);
  }
  x->sent += want;
  return want;
}

size_t OnWrite(char* data, size_t size, size_t n, void* arg) {
  auto* x = static_cast<Exchange*>(arg);
  size_t len = size * n;
  long status = 0;
  x->lib->easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
  if (!x->call->save_to.empty() && status >= 200 && status < 300) {
    if (x->out_fd < 0) {
      x->out_fd = open(x->call->save_to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (x->out_fd < 0) {
        x->error = "cannot create " + x->call->save_to + ": " + strerror(errno);
        return 0;
      }
    }
    for (size_t done = 0; done < len;) {
      ssize_t w = write(x->out_fd, data + done, len - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        x->error = "cannot write " + x->call->save_to + ": " + strerror(errno);
        return 0;
      }
      done += static_cast<size_t>(w);
    }
    return len;
  }
  if (x->answer->body.size() + len > x->call->max_body) {
    x->error = "the answer is larger than " + std::to_string(x->call->max_body) + " bytes";
    return 0;
  }
  x->answer->body.append(data, len);
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* arg) {
  auto* h = static_cast<Pairs*>(arg);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) h->clear();  // a 100 Continue's headers are not the answer's
  size_t colon = line.find(':');
  if (colon != std::string_view::npos && h->size() < 200) {
    std::string name;
    for (char ch : line.substr(0, colon)) name.push_back(AsciiLower(ch));
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.remove_suffix(1);
    h->emplace_back(name, std::string(TrimOws(v)));
  }
  return size * n;
}

Result<HttpAnswer> CurlCall(const HttpCall& call) {
  auto loaded = LoadCurl();
  if (!loaded.ok()) return loaded.error();
  const CurlLib& c = **loaded;
  CURL* curl = c.easy_init();
  if (!curl) return Error{"cannot start an HTTP request"};
  HttpAnswer answer;
  Exchange x;
  x.lib = &c;
  x.curl = curl;
  x.call = &call;
  x.answer = &answer;
  if (!call.body_file.empty()) {
    x.in_fd = open(call.body_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (x.in_fd < 0) {
      c.easy_cleanup(curl);
      return Error{"cannot read " + call.body_file + ": " + strerror(errno)};
    }
  }
  curl_slist* hs = nullptr;
  for (const auto& h : call.headers) hs = c.slist_append(hs, h.c_str());
  hs = c.slist_append(hs, "User-Agent: hearth");
  hs = c.slist_append(hs, "Expect:");  // no 100-continue round trip
  hs = c.slist_append(hs, "Content-Type:");
  c.easy_setopt(curl, CURLOPT_URL, call.url.c_str());
  c.easy_setopt(curl, CURLOPT_HTTPHEADER, hs);
  c.easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnWrite);
  c.easy_setopt(curl, CURLOPT_WRITEDATA, &x);
  c.easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  c.easy_setopt(curl, CURLOPT_HEADERDATA, &answer.headers);
  c.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, call.connect_timeout_ms);
  c.easy_setopt(curl, CURLOPT_TIMEOUT_MS, call.timeout_ms);
  c.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  c.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
  if (call.method == "HEAD") {
    c.easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (call.method == "PUT" || call.method == "POST") {
    // UPLOAD streams the body through OnRead with a known length; the
    // custom request turns its PUT into a POST where needed.
    c.easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    c.easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
    c.easy_setopt(curl, CURLOPT_READDATA, &x);
    c.easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(call.BodySize()));
    if (call.method == "POST") c.easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "POST");
  } else if (call.method != "GET") {
    c.easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  }
  CURLcode rc = c.easy_perform(curl);
  if (rc == CURLE_OK) c.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  c.slist_free_all(hs);
  c.easy_cleanup(curl);
  if (x.in_fd >= 0) close(x.in_fd);
  bool wrote_file = x.out_fd >= 0;
  if (wrote_file && close(x.out_fd) != 0 && x.error.empty())
    x.error = "cannot write " + call.save_to + ": " + strerror(errno);
  // A 2xx with an empty body still makes the file.
  if (rc == CURLE_OK && x.error.empty() && !call.save_to.empty() && !wrote_file &&
      answer.status >= 200 && answer.status < 300) {
    int fd = open(call.save_to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Error{"cannot create " + call.save_to + ": " + strerror(errno)};
    close(fd);
  }
  if (!x.error.empty()) return Error{x.error};
  if (rc != CURLE_OK) return Error{c.easy_strerror(rc)};
  return answer;
}

}  // namespace

Transport CurlTransport() {
  return CurlCall;
}

}  // namespace hearth::s3

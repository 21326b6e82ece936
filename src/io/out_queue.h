#pragma once
// OutQueue: the bytes a connection still owes its peer, in order. Small pieces
// (status lines, headers, short bodies) are copied into one buffer; large
// bodies are referenced (a shared immutable string, or a range of an open file)
// so they are never copied. Flush() sends as much as the socket takes with one
// writev(2) per run of memory pieces and sendfile(2) for file ranges.
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

namespace hearth {

// An open file shared by every response that sends part of it; closed when the
// last one is done.
struct SharedFd {
  explicit SharedFd(int f) : fd(f) {}
  ~SharedFd();
  SharedFd(const SharedFd&) = delete;
  SharedFd& operator=(const SharedFd&) = delete;
  int fd;
};

class OutQueue {
 public:
  // Copies `bytes`.
  void Append(std::string_view bytes);
  // Direct access for serializers that build in place; call Commit() after.
  std::string& Scratch() { return buf_; }
  void CommitScratch();  // marks buf_ growth since the last piece as a piece
  // References `data` without copying (off/len inside it).
  void AppendShared(std::shared_ptr<const std::string> data, size_t off, size_t len);
  void AppendFile(std::shared_ptr<SharedFd> file, uint64_t off, uint64_t len);

  bool empty() const { return pieces_.empty() && pending_ == buf_.size(); }
  uint64_t bytes() const { return queued_; }

  enum class FlushResult { kDone, kBlocked, kError };
  // Writes to a non-blocking socket until done or EAGAIN. *written gets the
  // count of bytes the socket accepted.
  FlushResult Flush(int fd, uint64_t* written);
  // For a transport that encrypts (TLS): copies up to `cap` bytes from the
  // head of the queue into `dst` without taking them (files are read), and
  // Skip() takes `n` once they are sent. Until then Peek() returns the same
  // bytes again (and perhaps more after them), as a TLS retry requires.
  size_t Peek(char* dst, size_t cap);
  void Skip(uint64_t n) { Consume(n); }
  // For tests and the loopback harness: everything as one string (files read).
  std::string DrainToString();

 private:
  struct Piece {
    enum Kind { kBuf, kShared, kFile } kind;
    size_t buf_off = 0;  // kBuf: range in buf_
    std::shared_ptr<const std::string> shared;
    std::shared_ptr<SharedFd> file;
    uint64_t off = 0, len = 0;
  };
  void SealBuf();
  void Consume(uint64_t n);

  std::string buf_;
  size_t pending_ = 0;  // buf_ bytes not yet covered by a piece
  std::deque<Piece> pieces_;
  uint64_t queued_ = 0;
};

}  // namespace hearth

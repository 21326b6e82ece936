#include "io/out_queue.h"

#include <errno.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace hearth {

SharedFd::~SharedFd() {
  if (fd >= 0) ::close(fd);
}

void OutQueue::SealBuf() {
  if (pending_ == buf_.size()) return;
  Piece p;
  p.kind = Piece::kBuf;
  p.buf_off = pending_;
  p.len = buf_.size() - pending_;
  // Merge with a preceding buffer piece: fewer iovecs.
  if (!pieces_.empty() && pieces_.back().kind == Piece::kBuf &&
      pieces_.back().buf_off + pieces_.back().len == pending_) {
    pieces_.back().len += p.len;
  } else {
    pieces_.push_back(std::move(p));
  }
  queued_ += buf_.size() - pending_;
  pending_ = buf_.size();
}

void OutQueue::Append(std::string_view bytes) {
  buf_.append(bytes);
  SealBuf();
}

void OutQueue::CommitScratch() {
  SealBuf();
}

void OutQueue::AppendShared(std::shared_ptr<const std::string> data, size_t off, size_t len) {
  SealBuf();
  if (len == 0) return;
  Piece p;
  p.kind = Piece::kShared;
  p.shared = std::move(data);
  p.off = off;
  p.len = len;
  pieces_.push_back(std::move(p));
  queued_ += len;
}

void OutQueue::AppendFile(std::shared_ptr<SharedFd> file, uint64_t off, uint64_t len) {
  SealBuf();
  if (len == 0) return;
  Piece p;
  p.kind = Piece::kFile;
  p.file = std::move(file);
  p.off = off;
  p.len = len;
  pieces_.push_back(std::move(p));
  queued_ += len;
}

void OutQueue::Consume(uint64_t n) {
  queued_ -= n;
  while (n > 0) {
    Piece& p = pieces_.front();
    uint64_t take = n < p.len ? n : p.len;
    p.len -= take;
    n -= take;
    if (p.kind == Piece::kBuf)
      p.buf_off += take;
    else
      p.off += take;
    if (p.len == 0) pieces_.pop_front();
  }
  if (pieces_.empty() && pending_ == buf_.size()) {
    buf_.clear();  // keeps capacity: no allocation on the next response
    pending_ = 0;
  }
}

OutQueue::FlushResult OutQueue::Flush(int fd, uint64_t* written) {
  SealBuf();
  *written = 0;
  while (!pieces_.empty()) {
    if (pieces_.front().kind == Piece::kFile) {
      Piece& p = pieces_.front();
      off_t off = static_cast<off_t>(p.off);
      size_t want = p.len > (1u << 30) ? (1u << 30) : static_cast<size_t>(p.len);
      ssize_t n = ::sendfile(fd, p.file->fd, &off, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return FlushResult::kBlocked;
        return FlushResult::kError;
      }
      if (n == 0) return FlushResult::kError;  // file shrank under us
      *written += static_cast<uint64_t>(n);
      Consume(static_cast<uint64_t>(n));
      continue;
    }
    iovec iov[64];
    int cnt = 0;
    uint64_t total = 0;
    for (auto it = pieces_.begin(); it != pieces_.end() && cnt < 64; ++it) {
      if (it->kind == Piece::kFile) break;
      const char* base =
          it->kind == Piece::kBuf ? buf_.data() + it->buf_off : it->shared->data() + it->off;
      iov[cnt].iov_base = const_cast<char*>(base);
      iov[cnt].iov_len = it->len;
      total += it->len;
      ++cnt;
    }
    // Headers followed by a file: MSG_MORE lets TCP put them in the same
    // segments as the file's first bytes instead of a small one of their own.
    bool file_next = cnt < static_cast<int>(pieces_.size()) &&
                     pieces_[static_cast<size_t>(cnt)].kind == Piece::kFile;
    ssize_t n;
    if (file_next) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(cnt);
      n = ::sendmsg(fd, &msg, MSG_MORE | MSG_NOSIGNAL);
      if (n < 0 && errno == ENOTSOCK) n = ::writev(fd, iov, cnt);
    } else {
      n = ::writev(fd, iov, cnt);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return FlushResult::kBlocked;
      return FlushResult::kError;
    }
    *written += static_cast<uint64_t>(n);
    Consume(static_cast<uint64_t>(n));
    if (static_cast<uint64_t>(n) < total) return FlushResult::kBlocked;
  }
  return FlushResult::kDone;
}

size_t OutQueue::Peek(char* dst, size_t cap) {
  SealBuf();
  size_t n = 0;
  for (auto& p : pieces_) {
    if (n == cap) break;
    size_t take = static_cast<size_t>(p.len < cap - n ? p.len : cap - n);
    if (p.kind == Piece::kBuf) {
      buf_.copy(dst + n, take, p.buf_off);
    } else if (p.kind == Piece::kShared) {
      p.shared->copy(dst + n, take, p.off);
    } else {
      ssize_t got = ::pread(p.file->fd, dst + n, take, static_cast<off_t>(p.off));
      if (got <= 0) break;  // the file shrank: what came before still goes
      n += static_cast<size_t>(got);
      if (static_cast<size_t>(got) < take) break;
      continue;
    }
    n += take;
  }
  return n;
}

std::string OutQueue::DrainToString() {
  SealBuf();
  std::string out;
  for (auto& p : pieces_) {
    if (p.kind == Piece::kBuf)
      out.append(buf_, p.buf_off, p.len);
    else if (p.kind == Piece::kShared)
      out.append(*p.shared, p.off, p.len);
    else {
      std::string tmp(p.len, '\0');
      ssize_t n = ::pread(p.file->fd, tmp.data(), p.len, static_cast<off_t>(p.off));
      if (n > 0) out.append(tmp.data(), static_cast<size_t>(n));
    }
  }
  Consume(queued_);
  return out;
}

}  // namespace hearth

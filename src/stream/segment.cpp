#include "stream/segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/crc32c.h"

namespace hearth::stream {
namespace {

uint64_t GetLe(std::string_view b, size_t at, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

void PutLe(std::string* b, size_t at, uint64_t v, int width) {
  for (int i = 0; i < width; ++i) (*b)[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Closes a file descriptor however the scope ends (a reader's callback may throw).
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

constexpr const char* kEndedEarly = "the file ended early (it was cut while being read)";

// Reads up to `n` bytes at `pos`, fewer only where the file ends.
Result<size_t> ReadUpTo(int fd, char* out, size_t n, uint64_t pos) {
  size_t done = 0;
  while (done < n) {
    ssize_t got = pread(fd, out + done, n - done, static_cast<off_t>(pos + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Error{std::string("read failed: ") + strerror(errno)};
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

// Reads exactly `n` bytes at `pos` (a short file is an error: the caller
// asked only for bytes it knows are there).
Status ReadAt(int fd, char* out, size_t n, uint64_t pos) {
  auto got = ReadUpTo(fd, out, n, pos);
  if (!got.ok()) return got.error();
  if (*got < n) return Error{kEndedEarly};
  return OkStatus();
}

// The length a format-1 entry header claims, once its CRC vouches for it;
// 0 when it cannot (DecodeEntry then says why).
uint64_t ClaimedLength(std::string_view head) {
  if (head.size() < store::kEntryHeaderSize) return 0;
  if (GetLe(head, 0, 4) != store::kEntryMagic || GetLe(head, 4, 2) != store::kEntryFormat ||
      GetLe(head, 8, 4) != store::kEntryHeaderSize)
    return 0;
  if (GetLe(head, store::kEntryHeaderSize - 4, 4) !=
      Crc32c(head.substr(0, store::kEntryHeaderSize - 4)))
    return 0;
  uint64_t length = GetLe(head, 64, 8);
  if (length % 8 != 0 || length < store::kEntryHeaderSize || length > store::kMaxEntryLength)
    return 0;
  return length;
}

}  // namespace

std::string EncodeSegmentHeader(const SegmentHeader& h) {
  std::string b(kSegmentHeaderSize, '\0');
  PutLe(&b, 0, kSegmentMagic, 4);
  PutLe(&b, 4, kSegmentFormat, 2);
  PutLe(&b, 6, kSegmentHeaderSize, 2);
  PutLe(&b, 8, h.generation, 8);
  PutLe(&b, 16, h.first_index, 8);
  PutLe(&b, 24, h.base_offset, 8);
  PutLe(&b, 32, static_cast<uint64_t>(h.created_us), 8);
  PutLe(&b, 60, Crc32c(std::string_view(b).substr(0, 60)), 4);
  return b;
}

Result<SegmentHeader> DecodeSegmentHeader(std::string_view b, HeaderFault* fault) {
  auto refuse = [fault](HeaderFault f, std::string why) -> Result<SegmentHeader> {
    if (fault) *fault = f;
    return Error{std::move(why)};
  };
  if (fault) *fault = HeaderFault::kNone;
  if (b.size() < kSegmentHeaderSize)
    return refuse(HeaderFault::kTruncated,
                  "log segment header is truncated (" + std::to_string(b.size()) + " bytes)");
  if (GetLe(b, 0, 4) != kSegmentMagic)
    return refuse(HeaderFault::kDamaged, "not a log segment (bad magic)");
  // The format is read before the CRC so that a newer hearth's file (whose
  // header may be longer) asks for an upgrade instead of reading as damage.
  auto format = GetLe(b, 4, 2);
  if (format > kSegmentFormat)
    return refuse(HeaderFault::kNewer, "log segment format " + std::to_string(format) +
                                           " was written by a newer hearth; upgrade hearth");
  if (format == 0 || GetLe(b, 6, 2) != kSegmentHeaderSize)
    return refuse(HeaderFault::kDamaged, "log segment header is damaged (format or length)");
  if (GetLe(b, 60, 4) != Crc32c(b.substr(0, 60)))
    return refuse(HeaderFault::kDamaged, "log segment header is damaged (CRC mismatch)");
  for (size_t i = 40; i < 60; ++i)
    if (b[i] != 0)
      return refuse(HeaderFault::kDamaged, "log segment header has reserved bytes set");
  SegmentHeader h;
  h.generation = GetLe(b, 8, 8);
  h.first_index = GetLe(b, 16, 8);
  h.base_offset = GetLe(b, 24, 8);
  h.created_us = static_cast<int64_t>(GetLe(b, 32, 8));
  return h;
}

int OpenSegmentFile(const std::string& path, int flags) {
  // Never blocks on a FIFO nor follows a link planted under a segment's name.
  int fd = open(path.c_str(), flags | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0) return -1;
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    errno = EINVAL;
    return -1;
  }
  // Back to blocking reads: O_NONBLOCK is only for the open.
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  return fd;
}

std::string SegmentName(uint64_t first_index) {
  char name[32];
  snprintf(name, sizeof name, "%016llx.hlog", static_cast<unsigned long long>(first_index));
  return name;
}

Result<std::vector<SegmentFile>> ListSegments(const std::string& wal_dir,
                                              std::vector<std::string>* unreadable) {
  std::vector<SegmentFile> out;
  DIR* d = opendir(wal_dir.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return Error{"cannot list " + wal_dir + ": " + strerror(errno)};
  }
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() <= 5 || name.compare(name.size() - 5, 5, ".hlog") != 0) continue;
    SegmentFile f;
    f.path = wal_dir + "/" + name;
    int fd = OpenSegmentFile(f.path, O_RDONLY);
    struct stat st {};
    std::string head(kSegmentHeaderSize, '\0');
    bool read = fd >= 0 && fstat(fd, &st) == 0;
    if (read) {
      f.size = static_cast<uint64_t>(st.st_size);
      head.resize(std::min<uint64_t>(f.size, kSegmentHeaderSize));
      read = ReadAt(fd, head.data(), head.size(), 0).ok();
    }
    if (fd >= 0) close(fd);
    auto h = read ? DecodeSegmentHeader(head) : Result<SegmentHeader>(Error{"unreadable"});
    if (!h.ok()) {
      if (unreadable) unreadable->push_back(f.path);
      continue;
    }
    f.header = *h;
    out.push_back(std::move(f));
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const SegmentFile& a, const SegmentFile& b) {
    return a.header.base_offset < b.header.base_offset;
  });
  return out;
}

SegmentReader::SegmentReader(int fd, const SegmentFile& file, uint64_t end)
    : fd_(fd), file_(file), end_(end) {}

SegmentReader::Next SegmentReader::Read() {
  Next next;
  if (pos_ >= end_) {
    next.done = true;
    return next;
  }
  // One large entry must not keep its buffer for the rest of the walk.
  if (buf_.capacity() > (size_t{16} << 20)) std::string().swap(buf_);
  buf_.resize(std::min<uint64_t>(end_ - pos_, store::kMaxEntryHeaderSize));
  // A file cut under the reader (a failed COMMIT's entry taken back while
  // `log dump` reads past what is committed) ends where it now ends, and
  // the entry cut reads as a torn tail.
  auto failed = [&next](const Status& st) {
    next.error = st.error().message;
    if (next.error == kEndedEarly) next.fault = store::EntryFault::kTruncated;
    return next;
  };
  auto got = ReadUpTo(fd_, buf_.data(), buf_.size(), pos_);
  if (!got.ok()) return failed(got.error());
  if (*got < buf_.size()) {
    buf_.resize(*got);
    end_ = pos_ + *got;
  }
  const uint64_t avail = end_ - pos_;
  std::string_view bytes = buf_;
  if (uint64_t length = ClaimedLength(bytes); length > 0) {
    next.claimed_end = pos_ + length;
    if (length <= avail) {
      size_t had = buf_.size();
      if (length > had) {
        buf_.resize(length);
        if (Status st = ReadAt(fd_, buf_.data() + had, length - had, pos_ + had); !st.ok())
          return failed(st);
      }
      bytes = std::string_view(buf_).substr(0, length);
    }
  }
  store::EntryFault fault;
  auto view = store::DecodeEntry(bytes, &fault);
  if (!view.ok()) {
    next.fault = fault;
    next.error = view.error().message;
    return next;
  }
  next.entry.view = std::move(view).value();
  next.entry.bytes = bytes.substr(0, next.entry.view.length);
  next.entry.offset = file_.header.base_offset + (pos_ - kSegmentHeaderSize);
  next.entry.generation = file_.header.generation;
  pos_ += next.entry.view.length;
  return next;
}

Result<bool> SomethingFollows(int fd, uint64_t from, uint64_t size, bool any_byte) {
  constexpr size_t kChunk = size_t{1} << 20;
  std::string buf;
  // Chunks overlap by a header so that one straddling two chunks is seen.
  for (uint64_t at = from; at < size;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, size - at));
    buf.resize(want);
    auto got = ReadUpTo(fd, buf.data(), want, at);
    if (!got.ok()) return got.error();
    buf.resize(*got);
    if (buf.empty()) break;
    std::string_view v = buf;
    if (any_byte) {
      if (v.find_first_not_of('\0') != std::string_view::npos) return true;
      at += v.size();
      continue;
    }
    // Entries start at 8-byte boundaries of the file (the header is 64).
    size_t first = static_cast<size_t>((8 - (at % 8)) % 8);
    for (size_t p = first; p + store::kEntryHeaderSize <= v.size(); p += 8)
      if (ClaimedLength(v.substr(p)) > 0) return true;
    if (at + v.size() >= size || v.size() <= store::kEntryHeaderSize) break;
    at += v.size() - store::kEntryHeaderSize;
  }
  return false;
}

Status ForEachEntry(const std::string& wal_dir, uint64_t from_index, uint64_t to_offset,
                    const std::function<bool(const LogEntry&)>& fn) {
  std::vector<std::string> unreadable;
  auto files = ListSegments(wal_dir, &unreadable);
  if (!files.ok()) return files.error();
  for (const std::string& path : unreadable) {
    // A file shorter than a header is one being created (its header and
    // first entry go in one write) or left torn by a crash at creation, which
    // recovery removes; anything else unreadable is a hole in the log.
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 && errno == ENOENT) continue;
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) < kSegmentHeaderSize) continue;
    return Error{"segment " + path + " is unreadable"};
  }
  for (size_t i = 1; i < files->size(); ++i) {
    // Offsets run on across files and generations: a file whose base is not
    // where the one before it ends means bytes are missing (or doubled).
    SegmentFile& a = (*files)[i - 1];
    const SegmentFile& b = (*files)[i];
    auto meets = [&] {
      return a.size >= kSegmentHeaderSize &&
             a.header.base_offset + (a.size - kSegmentHeaderSize) == b.header.base_offset;
    };
    struct stat st {};
    // A live writer may have appended to `a` and rolled after it was listed.
    if (!meets() && stat(a.path.c_str(), &st) == 0) a.size = static_cast<uint64_t>(st.st_size);
    if (!meets()) return Error{"segment " + b.path + " does not start where " + a.path + " ends"};
  }
  uint64_t last_generation = 0, last_index = 0;  // of the entry read last (0: none)
  for (size_t i = 0; i < files->size(); ++i) {
    const SegmentFile& f = (*files)[i];
    if (f.header.base_offset >= to_offset) break;
    // Indexes only grow within a generation (a restored folder may go back
    // in a new one), so a file whose successor in the same generation starts
    // at or before from_index holds nothing wanted.
    if (i + 1 < files->size() && (*files)[i + 1].header.generation == f.header.generation &&
        (*files)[i + 1].header.first_index <= from_index) {
      last_generation = 0;
      continue;
    }
    uint64_t room = to_offset - f.header.base_offset;  // > 0: checked above
    uint64_t end = f.size < kSegmentHeaderSize || room >= f.size - kSegmentHeaderSize
                       ? f.size
                       : kSegmentHeaderSize + room;
    Fd fd(OpenSegmentFile(f.path, O_RDONLY));
    if (fd.get() < 0) {
      // The newest file may go under the reader (its only entry was taken
      // back): the walk ends there. Retention deletes only what readers are
      // past, so any other file missing here is a hole.
      if (errno == ENOENT && i + 1 == files->size()) break;
      return Error{"cannot open " + f.path + ": " + strerror(errno)};
    }
    if (last_generation == f.header.generation && f.header.first_index != last_index + 1)
      return Error{f.path + " starts at index " + std::to_string(f.header.first_index) +
                   " but the file before it ends at " + std::to_string(last_index)};
    SegmentReader reader(fd.get(), f, end);
    bool first = true;
    for (;;) {
      auto next = reader.Read();
      if (next.done) break;
      char where[64];
      snprintf(where, sizeof where, " at byte %llu",
               static_cast<unsigned long long>(reader.position()));
      if (!next.error.empty()) {
        bool tail = i + 1 == files->size() || end < f.size;
        if (next.fault == store::EntryFault::kTruncated && tail) break;
        return Error{f.path + where + ": " + next.error};
      }
      uint64_t index = next.entry.view.index;
      if (first ? index != f.header.first_index
                : last_generation == f.header.generation && index != last_index + 1)
        return Error{f.path + where + ": index " + std::to_string(index) + " follows " +
                     std::to_string(first ? f.header.first_index - 1 : last_index)};
      first = false;
      last_generation = f.header.generation;
      last_index = index;
      if (index < from_index) continue;
      if (!fn(next.entry)) return OkStatus();
    }
  }
  return OkStatus();
}

}  // namespace hearth::stream

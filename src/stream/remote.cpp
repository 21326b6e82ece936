#include "stream/remote.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

#include "base/crc32c.h"
#include "base/json.h"
#include "crypto/hash.h"
#include "store/backup.h"
#include "stream/files.h"

namespace hearth::stream {
namespace {

constexpr uint32_t kSegMagic = 0x47455348;  // "HSEG" read little-endian
constexpr uint32_t kEndMagic = 0x444E4548;  // "HEND"
constexpr uint16_t kSegFormat = 1;
constexpr size_t kSegHeader = 64;
constexpr size_t kSegTrailer = 40;

void Put16(std::string& s, size_t at, uint16_t v) {
  for (int i = 0; i < 2; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
void Put32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
void Put64(std::string& s, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
uint64_t GetN(std::string_view s, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

// Strips `suffix` off `s`; false when it does not end so.
bool CutSuffix(std::string_view* s, std::string_view suffix) {
  if (s->size() < suffix.size() || s->substr(s->size() - suffix.size()) != suffix) return false;
  s->remove_suffix(suffix.size());
  return true;
}

}  // namespace

std::string GenerationName(uint64_t id, int64_t started_us) {
  time_t t = static_cast<time_t>(started_us / 1000000);
  tm g;
  gmtime_r(&t, &g);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ-%016" PRIx64, g.tm_year + 1900,
           g.tm_mon + 1, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec, id);
  return buf;
}

std::optional<GenerationNameParts> ParseGenerationName(std::string_view name) {
  // 16 characters of time, '-', 16 hex digits.
  if (name.size() != 33 || name[8] != 'T' || name[15] != 'Z' || name[16] != '-') return {};
  for (size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14})
    if (name[i] < '0' || name[i] > '9') return {};
  auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = 0; i < n; ++i) v = v * 10 + (name[at + i] - '0');
    return v;
  };
  tm g{};
  g.tm_year = num(0, 4) - 1900;
  g.tm_mon = num(4, 2) - 1;
  g.tm_mday = num(6, 2);
  g.tm_hour = num(9, 2);
  g.tm_min = num(11, 2);
  g.tm_sec = num(13, 2);
  if (g.tm_mon > 11 || g.tm_mday < 1 || g.tm_mday > 31 || g.tm_hour > 23 || g.tm_min > 59 ||
      g.tm_sec > 60)
    return {};
  GenerationNameParts p;
  if (!ParseHex16(name.substr(17), &p.id) || p.id == 0) return {};
  p.started_us = static_cast<int64_t>(timegm(&g)) * 1000000;
  return p;
}

std::string BytesKey(std::string_view sha) {
  return "bytes/" + std::string(sha.substr(0, 2)) + "/" + std::string(sha);
}
std::string GenerationRecordKey(std::string_view gen) {
  return "generations/" + std::string(gen) + "/generation.json";
}
std::string SnapshotFolderKey(std::string_view gen, uint64_t index, int64_t time_us) {
  return "generations/" + std::string(gen) + "/snapshots/" + Hex16(index) + "_" +
         Hex16(static_cast<uint64_t>(time_us));
}
std::string CaughtUpKey(std::string_view gen, uint64_t index, int64_t time_us) {
  return "generations/" + std::string(gen) + "/caught-up/" + Hex16(index) + "_" +
         Hex16(static_cast<uint64_t>(time_us));
}
std::string SnapshotManifestKey(std::string_view folder) {
  return std::string(folder) + "/manifest.json";
}
std::string SnapshotDatabaseKey(std::string_view folder, std::string_view database) {
  return std::string(folder) + "/" + std::string(database) + ".zst";
}

std::string SegmentKey(std::string_view gen, const SegmentId& s) {
  return "generations/" + std::string(gen) + "/segments/L" + std::to_string(s.level) + "/" +
         Hex16(s.first) + "-" + Hex16(s.last) + "_" + Hex16(static_cast<uint64_t>(s.t0)) + "_" +
         Hex16(static_cast<uint64_t>(s.t1)) + ".hseg.zst";
}

std::optional<SegmentId> ParseSegmentFileName(int level, std::string_view file) {
  if (!CutSuffix(&file, ".hseg.zst") || file.size() != 16 * 4 + 3) return {};
  if (file[16] != '-' || file[33] != '_' || file[50] != '_') return {};
  SegmentId s;
  s.level = level;
  uint64_t t0 = 0, t1 = 0;
  if (!ParseHex16(file.substr(0, 16), &s.first) || !ParseHex16(file.substr(17, 16), &s.last) ||
      !ParseHex16(file.substr(34, 16), &t0) || !ParseHex16(file.substr(51, 16), &t1))
    return {};
  s.t0 = static_cast<int64_t>(t0);
  s.t1 = static_cast<int64_t>(t1);
  if (s.first == 0 || s.last < s.first || s.t1 < s.t0 || s.t0 < 0) return {};
  return s;
}

std::string EncodeGenerationRecord(const GenerationRecord& r) {
  nlohmann::json j = {{"format", kBackupFormat},    {"name", r.name},
                      {"id", Hex16(r.id)},          {"node", Hex16(r.node)},
                      {"started_us", r.started_us}, {"first_index", r.first_index},
                      {"reason", r.reason},         {"hearth", r.hearth}};
  return j.dump(2) + "\n";
}

namespace {

// A JSON object of a backup's (what another node or an older hearth wrote,
// or what someone put there): parsed within bounds, refused unless its
// format is one this hearth reads.
Result<nlohmann::json> ParseBackupJson(std::string_view text, const char* what) {
  auto j = ParseJson(text, JsonLimits{16, 4000000});
  if (!j.ok() || !j->is_object()) return Error{std::string(what) + " is not a JSON object"};
  auto f = j->find("format");
  if (f == j->end() || !f->is_number_integer()) return Error{std::string(what) + " has no format"};
  if (f->get<int64_t>() > kBackupFormat)
    return Error{std::string(what) + " was written by a newer hearth (backup format " +
                 std::to_string(f->get<int64_t>()) + "); this hearth reads format " +
                 std::to_string(kBackupFormat) + ": upgrade hearth"};
  return j;
}

template <typename T>
bool Field(const nlohmann::json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end()) return false;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return false;
    *out = it->get<std::string>();
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0))
      return false;
    *out = it->get<uint64_t>();
  } else {
    if (!it->is_number_integer()) return false;
    *out = it->get<int64_t>();
  }
  return true;
}

}  // namespace

Result<GenerationRecord> DecodeGenerationRecord(std::string_view text) {
  auto j = ParseBackupJson(text, "generation.json");
  if (!j.ok()) return j.error();
  GenerationRecord r;
  std::string id, node;
  if (!Field(*j, "name", &r.name) || !Field(*j, "id", &id) || !ParseHex16(id, &r.id) ||
      !Field(*j, "node", &node) || !ParseHex16(node, &r.node) ||
      !Field(*j, "started_us", &r.started_us) || !Field(*j, "first_index", &r.first_index))
    return Error{"generation.json lacks a field or has one of the wrong type"};
  Field(*j, "reason", &r.reason);
  Field(*j, "hearth", &r.hearth);
  return r;
}

std::string EncodeManifest(const Manifest& m) {
  nlohmann::json dbs = nlohmann::json::array();
  for (const auto& d : m.databases)
    dbs.push_back({{"name", d.name},
                   {"key", d.key},
                   {"size", d.size},
                   {"sha256", d.sha256},
                   {"last_index", d.last_index},
                   {"digest", d.digest}});
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : m.files)
    files.push_back({{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}});
  nlohmann::json j = {
      {"format", kBackupFormat}, {"generation", m.generation}, {"from_index", m.from_index},
      {"index", m.index},        {"time_us", m.time_us},       {"taken_us", m.taken_us},
      {"hearth", m.hearth},      {"databases", dbs},           {"files", files}};
  return j.dump(2) + "\n";
}

Result<Manifest> DecodeManifest(std::string_view text) {
  auto j = ParseBackupJson(text, "manifest.json");
  if (!j.ok()) return j.error();
  Manifest m;
  const char* bad = "manifest.json lacks a field or has one of the wrong type";
  if (!Field(*j, "generation", &m.generation) || !Field(*j, "from_index", &m.from_index) ||
      !Field(*j, "index", &m.index) || !Field(*j, "time_us", &m.time_us) ||
      !Field(*j, "taken_us", &m.taken_us))
    return Error{bad};
  Field(*j, "hearth", &m.hearth);
  auto dbs = j->find("databases");
  if (dbs == j->end() || !dbs->is_array() || dbs->empty() || dbs->size() > 100000)
    return Error{"manifest.json names no databases"};
  bool has_control = false;
  for (const auto& d : *dbs) {
    SnapshotDatabase x;
    if (!d.is_object() || !Field(d, "name", &x.name) || !Field(d, "key", &x.key) ||
        !Field(d, "size", &x.size) || !Field(d, "sha256", &x.sha256) ||
        !Field(d, "last_index", &x.last_index) || !Field(d, "digest", &x.digest))
      return Error{bad};
    // The name becomes a path under the restored folder: only the names the
    // stream itself uses.
    if (!store::IsEntryDatabaseName(x.name) || !crypto::IsSha256Hex(x.sha256))
      return Error{"manifest.json names a database it may not: " + x.name.substr(0, 80)};
    has_control = has_control || x.name == "hearth.db";
    for (const auto& y : m.databases)
      if (y.name == x.name) return Error{"manifest.json names " + x.name + " twice"};
    m.databases.push_back(std::move(x));
  }
  if (!has_control) return Error{"manifest.json has no hearth.db"};
  if (auto files = j->find("files"); files != j->end()) {
    if (!files->is_array()) return Error{bad};
    for (const auto& f : *files) {
      SnapshotFile x;
      if (!f.is_object() || !Field(f, "path", &x.path) || !Field(f, "size", &x.size) ||
          !Field(f, "sha256", &x.sha256))
        return Error{bad};
      // Written under the restored folder: only a record file's own place.
      if (!store::SafeExtraName(x.path) || x.path.rfind("files/", 0) != 0 ||
          !crypto::IsSha256Hex(x.sha256))
        return Error{"manifest.json names a file it may not: " + x.path.substr(0, 80)};
      m.files.push_back(std::move(x));
    }
  }
  return m;
}

Status SegmentBuilder::Add(const store::EntryView& e, std::string_view bytes) {
  if (info_.count > 0 && e.index != info_.last + 1)
    return Error{"entry " + std::to_string(e.index) + " does not follow entry " +
                 std::to_string(info_.last)};
  if (e.generation != info_.generation)
    return Error{"entry " + std::to_string(e.index) + " is of another generation"};
  if (info_.count == 0) {
    info_.first = e.index;
    info_.t0 = e.commit_time_us;
  }
  info_.last = e.index;
  info_.t1 = std::max(info_.t1, e.commit_time_us);
  info_.count++;
  body_.append(bytes);
  return OkStatus();
}

Result<std::string> SegmentBuilder::Finish(int zstd_level) const {
  if (info_.count == 0) return Error{"an empty segment"};
  std::string raw(kSegHeader, '\0');
  Put32(raw, 0, kSegMagic);
  Put16(raw, 4, kSegFormat);
  Put16(raw, 6, kSegHeader);
  Put16(raw, 8, static_cast<uint16_t>(info_.level));
  Put32(raw, 12, info_.count);
  Put64(raw, 16, info_.generation);
  Put64(raw, 24, info_.first);
  Put64(raw, 32, info_.last);
  Put64(raw, 40, static_cast<uint64_t>(info_.t0));
  Put64(raw, 48, static_cast<uint64_t>(info_.t1));
  Put32(raw, 60, Crc32c(std::string_view(raw).substr(0, 60)));
  raw += body_;
  std::string trailer(8, '\0');
  Put32(trailer, 0, kEndMagic);
  trailer += crypto::Sha256Digest(raw);
  raw += trailer;
  return Compress(raw, zstd_level);
}

Result<OpenedSegment> OpenSegment(std::string_view object,
                                  const std::optional<SegmentId>& expected) {
  auto raw = Decompress(object, kMaxSegmentBytes);
  if (!raw.ok()) return raw.error();
  OpenedSegment out;
  out.raw = std::move(raw).value();
  std::string_view r = out.raw;
  if (r.size() < kSegHeader + kSegTrailer) return Error{"too short to be a segment"};
  if (GetN(r, 0, 4) != kSegMagic) return Error{"not a segment (bad magic)"};
  if (GetN(r, 4, 2) > kSegFormat)
    return Error{"written by a newer hearth (segment format " + std::to_string(GetN(r, 4, 2)) +
                 "); this hearth reads format 1: upgrade hearth"};
  if (GetN(r, 6, 2) != kSegHeader || GetN(r, 60, 4) != Crc32c(r.substr(0, 60)))
    return Error{"bad checksum (header)"};
  std::string_view trailer = r.substr(r.size() - kSegTrailer);
  std::string_view covered = r.substr(0, r.size() - kSegTrailer);
  if (GetN(trailer, 0, 4) != kEndMagic || trailer.substr(8) != crypto::Sha256Digest(covered))
    return Error{"bad checksum"};
  SegmentInfo& info = out.info;
  info.level = static_cast<int>(GetN(r, 8, 2));
  info.count = static_cast<uint32_t>(GetN(r, 12, 4));
  info.generation = GetN(r, 16, 8);
  info.first = GetN(r, 24, 8);
  info.last = GetN(r, 32, 8);
  info.t0 = static_cast<int64_t>(GetN(r, 40, 8));
  info.t1 = static_cast<int64_t>(GetN(r, 48, 8));
  if (info.count == 0 || info.last < info.first || info.last - info.first + 1 != info.count)
    return Error{"its header does not add up"};
  if (expected &&
      (expected->level != info.level || expected->first != info.first ||
       expected->last != info.last || expected->t0 != info.t0 || expected->t1 != info.t1))
    return Error{"its contents do not match its name"};
  std::string_view body = covered.substr(kSegHeader);
  uint64_t want = info.first;
  int64_t last_time = info.t0;
  while (!body.empty()) {
    store::EntryFault fault;
    auto e = store::DecodeEntry(body, &fault);
    if (!e.ok()) return Error{"entry " + std::to_string(want) + ": " + e.error().message};
    if (e->index != want || e->generation != info.generation || e->commit_time_us < last_time ||
        want > info.last)
      return Error{"entry " + std::to_string(e->index) + " is out of place in it"};
    last_time = e->commit_time_us;
    out.entries.push_back(body.substr(0, e->length));
    body.remove_prefix(e->length);
    ++want;
  }
  if (want != info.last + 1 || last_time != info.t1)
    return Error{"it holds fewer entries than its header says"};
  return out;
}

Result<std::string> Compress(std::string_view data, int level) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!cx) return Error{"zstd: out of memory"};
  ZSTD_CCtx_setParameter(cx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cx.get(), ZSTD_c_checksumFlag, 1);
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress2(cx.get(), out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n)) return Error{std::string("zstd: ") + ZSTD_getErrorName(n)};
  out.resize(n);
  return out;
}

Result<std::string> Decompress(std::string_view data, uint64_t limit) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dx) return Error{"zstd: out of memory"};
  std::string out;
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  size_t ret = 1;
  char buf[1 << 16];
  // Streamed, so a small object claiming a huge size (or lying about it)
  // costs only what it really expands to, up to `limit`.
  while (in.pos < in.size || ret != 0) {
    ZSTD_outBuffer o{buf, sizeof buf, 0};
    size_t before = in.pos;
    ret = ZSTD_decompressStream(dx.get(), &o, &in);
    if (ZSTD_isError(ret)) return Error{std::string("not valid zstd: ") + ZSTD_getErrorName(ret)};
    if (out.size() + o.pos > limit) return Error{"larger than " + std::to_string(limit) + " bytes"};
    out.append(buf, o.pos);
    if (o.pos == 0 && in.pos == before) return Error{"not valid zstd: cut short"};
  }
  return out;
}

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

Status WriteAll(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return Error{Errno("cannot write " + path)};
    p += w;
    n -= static_cast<size_t>(w);
  }
  return OkStatus();
}

// Runs `step` over `in` in blocks into a temporary file beside `out`, then
// fsyncs and renames it into place.
Status Transform(const std::string& in_path, const std::string& out_path,
                 const std::function<Status(std::string_view in, bool last, int out_fd)>& step) {
  Fd in;
  in.fd = open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in.fd < 0) return Error{Errno("cannot open " + in_path)};
  const std::string tmp = out_path + ".tmp";
  Fd out;
  out.fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out.fd < 0) return Error{Errno("cannot create " + tmp)};
  std::string buf(1 << 20, '\0');
  for (;;) {
    ssize_t n = read(in.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      unlink(tmp.c_str());
      return Error{Errno("cannot read " + in_path)};
    }
    Status s = step(std::string_view(buf.data(), static_cast<size_t>(n)), n == 0, out.fd);
    if (!s.ok()) {
      unlink(tmp.c_str());
      return s;
    }
    if (n == 0) break;
  }
  if (fsync(out.fd) != 0 || rename(tmp.c_str(), out_path.c_str()) != 0) {
    unlink(tmp.c_str());
    return Error{Errno("cannot write " + out_path)};
  }
  return OkStatus();
}

}  // namespace

Status CompressFile(const std::string& in, const std::string& out, int level, std::string* sha256) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!cx) return Error{"zstd: out of memory"};
  ZSTD_CCtx_setParameter(cx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cx.get(), ZSTD_c_checksumFlag, 1);
  crypto::Sha256 sha;
  std::string obuf(ZSTD_CStreamOutSize(), '\0');
  Status s = Transform(in, out, [&](std::string_view block, bool last, int fd) -> Status {
    sha.Update(block);
    ZSTD_inBuffer ib{block.data(), block.size(), 0};
    ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
      ZSTD_outBuffer ob{obuf.data(), obuf.size(), 0};
      size_t left = ZSTD_compressStream2(cx.get(), &ob, &ib, mode);
      if (ZSTD_isError(left)) return Error{std::string("zstd: ") + ZSTD_getErrorName(left)};
      if (Status w = WriteAll(fd, obuf.data(), ob.pos, out); !w.ok()) return w;
      if (last ? left == 0 : ib.pos == ib.size) return OkStatus();
    }
  });
  if (s.ok() && sha256) *sha256 = sha.HexDigest();
  return s;
}

Status DecompressFile(const std::string& in, const std::string& out, uint64_t limit,
                      std::string* sha256) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dx) return Error{"zstd: out of memory"};
  crypto::Sha256 sha;
  uint64_t total = 0;
  size_t ret = 0;
  bool started = false;
  std::string obuf(ZSTD_DStreamOutSize(), '\0');
  Status s = Transform(in, out, [&](std::string_view block, bool last, int fd) -> Status {
    if (last) {
      // The frame must have ended (its checksum checked) exactly here.
      if (!started || ret != 0) return Error{in + " is not valid zstd: cut short"};
      return OkStatus();
    }
    started = true;
    ZSTD_inBuffer ib{block.data(), block.size(), 0};
    while (ib.pos < ib.size) {
      ZSTD_outBuffer ob{obuf.data(), obuf.size(), 0};
      ret = ZSTD_decompressStream(dx.get(), &ob, &ib);
      if (ZSTD_isError(ret))
        return Error{in + " is not valid zstd: " + std::string(ZSTD_getErrorName(ret))};
      total += ob.pos;
      if (total > limit) return Error{in + " expands to more than " + std::to_string(limit)};
      sha.Update(std::string_view(obuf.data(), ob.pos));
      if (Status w = WriteAll(fd, obuf.data(), ob.pos, out); !w.ok()) return w;
    }
    // zstd keeps the last byte of a frame until it has given out all of
    // the frame's output, so consuming the input is enough: `ret` is 0 once
    // a frame ended (its checksum checked) with this block.
    return OkStatus();
  });
  if (s.ok() && sha256) *sha256 = sha.HexDigest();
  return s;
}

}  // namespace hearth::stream

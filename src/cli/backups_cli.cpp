#include "cli/backups_cli.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/strings.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "s3/object_store.h"

namespace hearth::cli {

struct BackupsCli::State {
  std::string to, endpoint, region = "us-east-1", key_id, secret;
  uint64_t probe_size = 64;
  int tries = 3;
  CLI::App *backups = nullptr, *check = nullptr;
};

namespace {

int Fail(const std::string& target, const std::string& step, const std::string& why) {
  fprintf(stderr, "hearth: backups check %s: %s failed: %s\n", target.c_str(), step.c_str(),
          why.c_str());
  return 1;
}

// Random bytes of `size` in a temporary file (a probe too big to hold in memory
// goes up as a multipart upload from it); its path, or "" on failure.
std::string TempProbeFile(uint64_t size, std::string* sha_hex) {
  const char* dir = getenv("TMPDIR");
  std::string path = std::string(dir && *dir ? dir : "/tmp") + "/hearth-probe-XXXXXX";
  int fd = mkstemp(path.data());
  if (fd < 0) return "";
  crypto::Sha256 sha;
  std::string block = crypto::RandomBytes(1 << 20);
  for (uint64_t done = 0; done < size;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(block.size(), size - done));
    block[0] = static_cast<char>(done >> 20);  // blocks differ, so a misplaced part shows
    if (write(fd, block.data(), n) != static_cast<ssize_t>(n)) {
      close(fd);
      unlink(path.c_str());
      return "";
    }
    sha.Update(std::string_view(block.data(), n));
    done += n;
  }
  close(fd);
  *sha_hex = sha.HexDigest();
  return path;
}

std::string FileSha(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  crypto::Sha256 sha;
  std::string buf(1 << 20, '\0');
  for (ssize_t n; (n = read(fd, buf.data(), buf.size())) > 0;)
    sha.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
  close(fd);
  return sha.HexDigest();
}

}  // namespace

void BackupsCli::Register(CLI::App* app) {
  s_ = std::make_shared<State>();
  State& s = *s_;
  s.backups = app->add_subcommand("backups", "Backup targets: check one works end to end");
  s.backups->require_subcommand(1);
  s.check = s.backups->add_subcommand(
      "check",
      "Put a probe object under the target, list it, read it back and delete it: one line per "
      "step, then \"backup target OK\"");
  s.check->add_option("--to", s.to, "the target: s3://bucket/prefix or file:///path")
      ->envname("HEARTH_BACKUP_TO")
      ->required();
  s.check
      ->add_option("--backup-endpoint", s.endpoint,
                   "S3 endpoint for MinIO and other S3-compatible servers, such as "
                   "http://127.0.0.1:9000 (path-style) [default: AWS]")
      ->envname("HEARTH_BACKUP_ENDPOINT");
  s.check->add_option("--backup-region", s.region, "S3 region [default: us-east-1]")
      ->envname("HEARTH_BACKUP_REGION");
  s.check->add_option("--backup-key-id", s.key_id, "S3 access key id")
      ->envname("HEARTH_BACKUP_KEY_ID");
  s.check
      ->add_option("--backup-secret", s.secret,
                   "S3 secret access key (never printed; prefer the environment)")
      ->envname("HEARTH_BACKUP_SECRET");
  // Hidden: the tests' multipart probe (40 MiB goes up in 16 MiB parts) and retry budget.
  s.check->add_option("--probe-size", s.probe_size)->group("");
  s.check->add_option("--tries", s.tries)->group("")->check(CLI::Range(1, 5));
}

int BackupsCli::RunIfParsed() {
  State& s = *s_;
  if (!s.backups->parsed()) return -1;
  s3::StoreOptions o;
  o.endpoint = s.endpoint;
  o.region = s.region;
  o.creds = {s.key_id, s.secret};
  // A person waits on this: a few quick tries, not the server's patient ones.
  o.max_tries = s.tries;
  o.connect_timeout_ms = 3000;
  o.timeout_ms = 30000 + static_cast<long>(s.probe_size >> 20) * 1000;
  auto store = s3::OpenObjectStore(s.to, o);
  if (!store.ok()) return Fail(s.to, "setup", store.error().message);
  std::string target = (*store)->Describe();
  std::string key = "hearth-check-" + crypto::RandomChars(12);
  bool big = s.probe_size > (1u << 20);
  std::string bytes, sha, file;
  if (big) {
    file = TempProbeFile(s.probe_size, &sha);
    if (file.empty()) return Fail(target, "put", "cannot write a temporary probe file");
  } else {
    bytes = crypto::RandomBytes(static_cast<size_t>(s.probe_size));
  }
  auto cleanup = [&] {
    if (!file.empty()) unlink(file.c_str());
  };

  Status put = big ? (*store)->PutFile(key, file) : (*store)->Put(key, bytes);
  if (!put.ok()) {
    cleanup();
    return Fail(target, "put", put.error().message);
  }
  printf("put %s (%s): ok\n", key.c_str(), FormatSize(s.probe_size).c_str());

  auto listed = (*store)->List("hearth-check-");
  if (!listed.ok()) {
    cleanup();
    return Fail(target, "list", listed.error().message);
  }
  bool found = false;
  for (const auto& info : *listed) found = found || (info.key == key && info.size == s.probe_size);
  if (!found) {
    cleanup();
    return Fail(target, "list", "the probe " + key + " is not in the listing");
  }
  printf("list: ok (%zu probe objects)\n", listed->size());

  if (big) {
    std::string back = file + ".back";
    Status got = (*store)->GetToFile(key, back);
    std::string back_sha = got.ok() ? FileSha(back) : "";
    unlink(back.c_str());
    cleanup();
    if (!got.ok()) return Fail(target, "get", got.error().message);
    if (back_sha != sha) return Fail(target, "get", "the probe came back with other bytes");
    printf("get: ok (sha256 %s)\n", sha.c_str());
  } else {
    auto got = (*store)->Get(key);
    if (!got.ok()) return Fail(target, "get", got.error().message);
    if (*got != bytes) return Fail(target, "get", "the probe came back with other bytes");
    printf("get: ok (same bytes)\n");
  }

  if (Status del = (*store)->Delete(key); !del.ok())
    return Fail(target, "delete", del.error().message);
  printf("delete: ok\n");
  printf("backup target OK (%s)\n", target.c_str());
  return 0;
}

}  // namespace hearth::cli

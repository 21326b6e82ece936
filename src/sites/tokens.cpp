#include "sites/tokens.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstring>

#include "base/strings.h"
#include "sites/manifest.h"

namespace hearth::sites {

std::string NewToken() {
  unsigned char raw[32];
  RAND_bytes(raw, sizeof raw);
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "hth_";
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : raw) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      out.push_back(alphabet[(acc >> (bits - 6)) & 63]);
      bits -= 6;
    }
  }
  if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 63]);
  return out;
}

TokenRecord MakeToken() {
  TokenRecord r;
  r.token = NewToken();
  r.id = NewToken().substr(4, 12);
  r.hash = Sha256Hex(r.token);
  return r;
}

Result<std::string> CreateToken(store::Store& store, const std::string& name) {
  TokenRecord t = MakeToken();
  Status st = store.Write([&](store::Connection& c) {
    return c.Named("tokens.insert").Bind(1, t.id).Bind(2, t.hash).Bind(3, name).Run();
  });
  if (!st.ok()) return st.error();
  return t.token;
}

Result<std::string> EnsureAdminToken(store::Store& store, const std::string& data_dir) {
  store::Statement count = store.Reader(0).Named("tokens.count");
  Status st = OkStatus();
  if (count.Step(&st) && count.Int(0) > 0) return std::string();
  if (!st.ok()) return st.error();
  auto token = CreateToken(store, "admin");
  if (!token.ok()) return token.error();
  std::string path = data_dir + "/admin.token";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error{"cannot write " + path + ": " + strerror(errno)};
  std::string line = *token + "\n";
  bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok) return Error{"cannot write " + path};
  return token;
}

bool IsKnownToken(store::Store* store, int reader, std::string_view auth) {
  std::string_view token = TrimOws(auth);
  if (token.size() > 7 && EqualsIgnoreCase(token.substr(0, 7), "bearer ")) token = TrimOws(token.substr(7));
  if (token.empty() || token.size() >= 256) return false;
  store::Statement st = store->Reader(reader).Named("tokens.by_hash");
  st.Bind(1, Sha256Hex(token));
  Status status = OkStatus();
  return st.Step(&status);
}

Middleware RequireToken(store::Store* store, int reader) {
  return [store, reader](Request& req, Response& res, const Handler& next) {
    std::string_view auth = req.Header("Authorization");
    std::string_view token;
    if (auth.size() > 7 && EqualsIgnoreCase(auth.substr(0, 7), "bearer ")) token = TrimOws(auth.substr(7));
    bool known = false;
    if (!token.empty() && token.size() < 256) {
      store::Statement st = store->Reader(reader).Named("tokens.by_hash");
      st.Bind(1, Sha256Hex(token));
      Status status = OkStatus();
      known = st.Step(&status);
    }
    if (!known) {
      res.SetText(401, "application/json",
                  token.empty() ? "{\"error\":\"this needs a token: Authorization: Bearer <token>\"}\n"
                                : "{\"error\":\"unknown token\"}\n");
      res.SetHeader("WWW-Authenticate", "Bearer");
      return;
    }
    next(req, res);
  };
}

}  // namespace hearth::sites

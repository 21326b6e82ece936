#include "api/tokens.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "base/strings.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace hearth::api {

std::string NewToken() {
  return "hth_" + crypto::Base64UrlEncode(crypto::RandomBytes(32));
}

TokenRecord MakeToken() {
  TokenRecord r;
  r.token = NewToken();
  // Hex, not base64url: an id that began with '-' would be taken for an
  // option by `hearth tokens rm <id>` (1 in 64 of base64url ids did).
  r.id = crypto::HexEncode(crypto::RandomBytes(6));
  r.hash = crypto::Sha256Hex(r.token);
  return r;
}

Status InsertToken(store::Connection& c, const TokenRecord& t, const std::string& name,
                   const TokenScope& scope, int64_t expires_at) {
  store::Statement st = c.Named("tokens.insert");
  st.Bind(1, t.id).Bind(2, t.hash).Bind(3, name).Bind(4, ScopeText(scope));
  if (expires_at > 0)
    st.Bind(5, expires_at);
  else
    st.BindNull(5);  // never expires (every parameter is bound: store/sqlite.h)
  return st.Run();
}

Result<std::string> CreateToken(store::Store& store, const std::string& name) {
  TokenRecord t = MakeToken();
  Status st =
      store.Write([&](store::Connection& c) { return InsertToken(c, t, name, TokenScope{}, 0); });
  if (!st.ok()) return st.error();
  return t.token;
}

Result<std::string> EnsureAdminToken(store::Store& store, const std::string& data_dir) {
  {
    store::Statement count = store.Reader(0).Named("tokens.count_admin");
    Status st = OkStatus();
    if (count.Step(&st) && count.Int(0) > 0) return std::string();
    if (!st.ok()) return st.error();
  }
  auto token = CreateToken(store, "admin");
  if (!token.ok()) return token.error();
  std::string path = data_dir + "/admin.token";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error{"cannot write " + path + ": " + strerror(errno)};
  std::string line = *token + "\n";
  bool ok =
      write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok) return Error{"cannot write " + path};
  return token;
}

Result<int64_t> ParseExpiry(std::string_view text, int64_t now) {
  constexpr int64_t kMax = 10ll * 366 * 86400;
  text = TrimOws(text);
  int64_t at = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  char tail = 0;
  std::string t(text.substr(0, 64));
  if (t.size() == 10 && sscanf(t.c_str(), "%4d-%2d-%2d%c", &y, &mo, &d, &tail) == 3) {
    // A day: the token works through the whole of it (UTC).
    tm day{};
    day.tm_year = y - 1900, day.tm_mon = mo - 1, day.tm_mday = d;
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
      return Error{"\"" + t + "\" is not a date (YYYY-MM-DD)"};
    at = static_cast<int64_t>(timegm(&day)) + 86400;
  } else if (t.size() >= 16 && t[10] == 'T' &&
             sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d", &y, &mo, &d, &h, &mi) == 5) {
    std::string rest = t.substr(16);
    if (rest.size() >= 3 && rest[0] == ':' && sscanf(rest.c_str(), ":%2d", &sec) == 1)
      rest = rest.substr(3);
    if (rest != "Z" && rest != "")
      return Error{"\"" + t + "\" is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)"};
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
      return Error{"\"" + t + "\" is not a time (YYYY-MM-DDTHH:MM:SSZ)"};
    tm when{};
    when.tm_year = y - 1900, when.tm_mon = mo - 1, when.tm_mday = d, when.tm_hour = h,
    when.tm_min = mi, when.tm_sec = sec;
    at = static_cast<int64_t>(timegm(&when));
  } else {
    // A duration: whole days and weeks here, the rest as the settings take them.
    int64_t seconds = 0;
    if (!t.empty() && (t.back() == 'd' || t.back() == 'w')) {
      uint64_t n = 0;
      if (!ParseUint(std::string_view(t).substr(0, t.size() - 1), &n) || n > 100000)
        return Error{"\"" + t + "\" is not a duration (30d, 2w, 12h) or a date (YYYY-MM-DD)"};
      seconds = static_cast<int64_t>(n) * (t.back() == 'd' ? 86400 : 7 * 86400);
    } else {
      int64_t ms = 0;
      if (!ParseDurationMillis(t, &ms))
        return Error{"\"" + t + "\" is not a duration (30d, 2w, 12h) or a date (YYYY-MM-DD)"};
      seconds = ms / 1000;
    }
    if (seconds <= 0) return Error{"an expiry must be in the future"};
    if (seconds > kMax) return Error{"an expiry is at most ten years away"};
    at = now + seconds;
  }
  if (at <= now) return Error{"an expiry must be in the future (\"" + t + "\" has passed)"};
  if (at - now > kMax) return Error{"an expiry is at most ten years away"};
  return at;
}

namespace {

std::string_view BearerOrBare(std::string_view auth) {
  std::string_view token = TrimOws(auth);
  if (token.size() > 7 && EqualsIgnoreCase(token.substr(0, 7), "bearer "))
    token = TrimOws(token.substr(7));
  return token;
}

// Notes a token's use: its last_used_at is written at most once a minute per
// token, as a queued write (the request never waits for it).
void NoteUse(store::Store* store, const std::string& id, int64_t now) {
  static std::mutex mu;
  static std::unordered_map<std::string, int64_t> written;  // id -> when its use was last written
  {
    std::lock_guard lock(mu);
    auto it = written.find(id);
    if (it != written.end() && now - it->second < 60) return;
    if (written.size() >= 4096) written.clear();  // revoked ids do not pile up
    written[id] = now;
  }
  store->SubmitWrite(
      [id, now](store::Connection& c) {
        return c.Named("tokens.used").Bind(1, id).Bind(2, now).Run();
      },
      [](const Status&) {});
}

std::optional<TokenInfo> Lookup(store::Store* store, int reader, std::string_view token) {
  if (token.empty() || token.size() >= 256) return std::nullopt;
  store::Statement st = store->Reader(reader).Named("tokens.by_hash");
  st.Bind(1, crypto::Sha256Hex(token));
  Status status = OkStatus();
  if (!st.Step(&status)) return std::nullopt;
  int64_t now = static_cast<int64_t>(time(nullptr));
  TokenInfo info;
  info.id = std::string(st.Text(0));
  info.name = std::string(st.Text(1));
  info.expires_at = st.IsNull(3) ? 0 : st.Int(3);
  auto scope = ParseScope(st.Text(2));
  // A scope this build cannot read grants nothing (a newer hearth wrote it).
  if (!scope.ok()) return std::nullopt;
  info.scope = std::move(scope).value();
  if (info.expires_at != 0 && info.expires_at <= now) return std::nullopt;
  st.Reset();
  NoteUse(store, info.id, now);
  return info;
}

}  // namespace

std::optional<TokenInfo> ResolveToken(store::Store* store, int reader, std::string_view auth) {
  return Lookup(store, reader, BearerOrBare(auth));
}

bool IsAdminToken(store::Store* store, int reader, std::string_view auth) {
  auto t = ResolveToken(store, reader, auth);
  return t && t->scope.kind == TokenScope::Kind::kAdmin;
}

int AuthorizeRequest(store::Store* store, int reader, const Request& req, const ApiTarget& target,
                     std::string* why) {
  std::string_view auth = req.Header("Authorization");
  std::string_view token;
  if (auth.size() > 7 && EqualsIgnoreCase(auth.substr(0, 7), "bearer "))
    token = TrimOws(auth.substr(7));
  if (token.empty()) {
    *why = "this needs a token: Authorization: Bearer <token>";
    return 401;
  }
  auto info = Lookup(store, reader, token);
  if (!info) {
    *why = "unknown, revoked or expired token";
    return 401;
  }
  std::string owner;
  if (info->scope.kind == TokenScope::Kind::kDeploy) {
    // What a deploy or a blob belongs to, looked up only for the scopes that ask.
    store::Connection& rd = store->Reader(reader);
    Status s = OkStatus();
    if (target.kind == ApiTarget::Kind::kPublish) {
      uint64_t v = 0;
      if (ParseUint(target.key, &v) && v <= static_cast<uint64_t>(INT64_MAX)) {
        store::Statement st = rd.Named("tokens.version_site");
        st.Bind(1, static_cast<int64_t>(v));
        if (st.Step(&s)) owner = std::string(st.Text(0));
      }
    } else if (target.kind == ApiTarget::Kind::kBlob) {
      store::Statement st = rd.Named("tokens.blob_wanted_by");
      st.Bind(1, target.key).Bind(2, info->scope.site);
      if (st.Step(&s)) owner = info->scope.site;
    }
  }
  if (!ScopeAllows(info->scope, target, owner)) {
    *why = "this token's scope (" + ScopeText(info->scope) + ") does not allow " +
           std::string(req.method == Method::kGet      ? "GET"
                       : req.method == Method::kHead   ? "HEAD"
                       : req.method == Method::kPost   ? "POST"
                       : req.method == Method::kPut    ? "PUT"
                       : req.method == Method::kPatch  ? "PATCH"
                       : req.method == Method::kDelete ? "DELETE"
                                                       : "this") +
           " " + std::string(req.path.substr(0, 200));
    return 403;
  }
  return 0;
}

void RefuseRequest(Response& res, int status, const std::string& why) {
  res.SetText(status, "application/json", nlohmann::json({{"error", why}}).dump() + "\n");
  if (status == 401) res.SetHeader("WWW-Authenticate", "Bearer");
}

Middleware RequireToken(store::Store* store, int reader, const RouteTable* table) {
  return [store, reader, table](Request& req, Response& res, const Handler& next) {
    std::string why;
    ApiTarget target = table->Target(req.method, req.path);
    if (int status = AuthorizeRequest(store, reader, req, target, &why); status != 0)
      return RefuseRequest(res, status, why);
    next(req, res);
  };
}

}  // namespace hearth::api

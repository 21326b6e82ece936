// Record files over HTTP: GET /api/files/{collection}/{record}/{name} and
// POST /api/files/token, as PocketBase serves them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "crypto/jwt.h"
#include "data/records_internal.h"
#include "io/out_queue.h"

namespace hearth::data::records {
namespace {

constexpr int64_t kFileTokenSeconds = 120;  // long enough to load a page's files

// Superusers' file tokens are signed with a key no record token uses.
std::string SuperuserFileKey(const App& app) {
  return app.token_secret() + ":files";
}

// Whether `token` (a file token) lets its holder see record `id` of x.c.
bool FileTokenAllows(const Ctx& x, store::Connection& rd, std::string_view token,
                     std::string_view id) {
  auto payload = crypto::PeekJwt(token);
  // Claims are checked for their types first: a token is the client's text.
  if (!payload || !payload->is_object() || !(*payload)["type"].is_string() ||
      (*payload)["type"].get<std::string>() != "file")
    return false;
  int64_t now = time(nullptr);
  if ((*payload)["superuser"].is_boolean() && (*payload)["superuser"].get<bool>())
    return crypto::CheckJwt(token, SuperuserFileKey(*x.app), now);
  if (!(*payload)["id"].is_string() || !(*payload)["collectionId"].is_string()) return false;
  const Collection* ac = nullptr;
  for (const auto& [n, col] : x.schema->collections)
    if (col.id == (*payload)["collectionId"].get<std::string>() && col.IsAuth()) ac = &col;
  if (!ac) return false;
  auto row = ReadAuthRow(rd, *ac, "\"id\"", (*payload)["id"].get<std::string>());
  if (!row || !crypto::CheckJwt(token, x.app->token_secret() + row->token_key, now)) return false;
  Ctx viewer = x;
  viewer.superuser = false;
  viewer.auth = row->record;
  bool denied = false;
  auto seen = FetchOne(viewer, rd, id, x.c->view_rule, nullptr, &denied);
  return seen.ok() && seen->has_value();
}

}  // namespace

void ServeFiles(Ctx& x, const std::vector<std::string_view>& seg, Request& req, Response& res) {
  store::Connection& rd = x.app->store().Reader(x.reader);
  if (seg.size() == 3 && seg[2] == "token") {
    if (req.method != Method::kPost) return PbError(res, 405, "Use POST.");
    int64_t exp = static_cast<int64_t>(time(nullptr)) + kFileTokenSeconds;
    if (x.superuser)
      return PbJson(
          res, 200,
          {{"token", crypto::MakeJwt({{"type", "file"}, {"superuser", true}, {"exp", exp}},
                                     SuperuserFileKey(*x.app))}});
    if (!x.auth.is_object())
      return PbError(res, 401, "The request requires valid record authorization token.");
    json payload = {{"type", "file"},
                    {"id", x.auth["id"]},
                    {"collectionId", x.auth["collectionId"]},
                    {"exp", exp}};
    return PbJson(res, 200,
                  {{"token", crypto::MakeJwt(payload, x.app->token_secret() + x.auth_token_key)}});
  }
  if (seg.size() != 5) return PbError(res, 404, kNotFound);
  if (req.method != Method::kGet && req.method != Method::kHead)
    return PbError(res, 405, "Use GET.");
  x.c = x.schema->Find(seg[2]);
  for (const auto& [n, col] : x.schema->collections)
    if (!x.c && col.id == seg[2]) x.c = &col;
  std::string_view id = seg[3], name = seg[4];
  if (!x.c || !IsStoredFileName(name)) return PbError(res, 404, kNotFound);
  // The name must be one of the record's files: the record, not the
  // request, says which files exist.
  Ctx su = x;
  su.superuser = true;
  bool denied = false;
  auto record = FetchOne(su, rd, id, std::nullopt, nullptr, &denied);
  if (!record.ok() || !*record) return PbError(res, 404, kNotFound);
  const Field* field = nullptr;
  for (const Field& f : x.c->fields) {
    if (f.type != FieldType::kFile) continue;
    auto names = FileNames((**record)[f.name]);
    if (std::find(names.begin(), names.end(), name) != names.end()) field = &f;
  }
  if (!field) return PbError(res, 404, kNotFound);
  Query q;
  if (!ParseQueryString(req.query, &q.params))
    return PbError(res, 400, "The query string is not valid.");
  if (field->protected_files && !x.superuser) {
    // With a file token, its holder must be able to view the record; without
    // one, a guest must (a view rule of "" lets everyone).
    std::string_view token = q.Get("token");
    bool allowed = !token.empty() && FileTokenAllows(x, rd, token, id);
    if (!allowed && x.c->view_rule) {
      Ctx guest = x;
      guest.superuser = false;
      guest.auth = nullptr;
      bool no = false;
      auto seen = FetchOne(guest, rd, id, x.c->view_rule, nullptr, &no);
      allowed = seen.ok() && seen->has_value();
    }
    if (!allowed) return PbError(res, 404, kNotFound);
  }
  std::string path = x.app->files().PathOf(x.c->id, id, name);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PbError(res, 404, kNotFound);
  auto shared = std::make_shared<SharedFd>(fd);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return PbError(res, 404, kNotFound);
  char head[512];
  ssize_t n = pread(fd, head, sizeof head, 0);
  std::string mime = SniffMime(name, std::string_view(head, n > 0 ? static_cast<size_t>(n) : 0));
  res.status = 200;
  res.SetHeader("Content-Type", mime);
  std::string_view download = q.Get("download");
  bool attachment = !download.empty() && download != "0" && download != "false";
  res.SetHeader("Content-Disposition", std::string(attachment ? "attachment" : "inline") +
                                           "; filename=\"" + std::string(name) + "\"");
  // Files come from users and are served on the site's own origin: they
  // must never run as the site's pages.
  res.SetHeader("Content-Security-Policy",
                "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; sandbox");
  res.SetHeader("X-Content-Type-Options", "nosniff");
  // A stored name never changes its bytes: a new upload gets a new name.
  res.SetHeader("Cache-Control",
                field->protected_files ? "private, no-store" : "public, max-age=2592000");
  res.SetFile(std::move(shared), 0, static_cast<uint64_t>(st.st_size));
}

}  // namespace hearth::data::records

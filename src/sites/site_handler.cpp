#include <algorithm>
#include <cstring>
#include <ctime>

#include "base/clock.h"
#include "files/representation.h"
#include "files/safe_path.h"
#include "http/mime.h"
#include "sites/compress.h"
#include "sites/sites.h"

namespace hearth::sites {
namespace {
constexpr size_t kMaxHosts = 10000;
constexpr size_t kMaxVersions = 64;
constexpr uint64_t kBlobCacheBytes = 64ull << 20;
// Larger files are not held in memory: they stream from the store in pieces,
// each its own short read, so neither memory nor a long-open read transaction
// grows with the file or with how slowly the client reads.
constexpr uint64_t kStreamAbove = 1ull << 20;
constexpr size_t kStreamPiece = 256 * 1024;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "app.3f9a2c1b.js", "main-5d41402a.css": a name that carries a hash of its
// content never changes, so it may be cached for a year.
bool Fingerprinted(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t run = 0;
  for (char c : name) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (hex) {
      if (++run >= 8) return true;
    } else {
      run = 0;
    }
  }
  return false;
}
using OpenStream = std::function<std::function<bool(std::string&)>(uint64_t, uint64_t)>;

void ServePrepared(Request& req, Response& res, const SiteHandler::Prepared& p, int status,
                   const OpenStream& open_stream) {
  if (status != 200) {  // the site's own 404.html
    res.status = status;
    res.fields.append(p.fields);
    if (p.data)
      res.SetShared(p.data, 0, p.data->size());
    else
      res.SetStream(open_stream(0, p.size), p.size);
    return;
  }
  Representation rep;
  rep.etag = p.etag;
  rep.fields = p.fields;
  rep.size = p.size;
  rep.content = p.data;
  if (!p.data) rep.open_stream = open_stream;
  ServeRepresentation(req, res, rep);
}

}  // namespace

std::string MountProblem(const SiteMount& mount) {
  if (!mount.route_class) return "site mount " + mount.name + ": no class (read, write or local)";
  if (!mount.takes) return "site mount " + mount.name + ": nothing says which requests it takes";
  if (!mount.serve) return "site mount " + mount.name + ": nothing serves its requests";
  return "";
}

std::string GatesProblem(const FrontGates& gates) {
  const char* unset = !gates.acme_answer       ? "the ACME challenge"
                      : !gates.has_certificate ? "the HTTPS redirect"
                      : !gates.rate_limit      ? "the rate limit"
                                               : nullptr;
  if (!unset) return "";
  return std::string("the sites' front gate for ") + unset +
         " is unset: its part (or the composition root, when the part is off) must set it";
}

Result<std::shared_ptr<SiteHandler>> SiteHandler::Make(SitesShared* shared, int reader,
                                                       Handler fallback,
                                                       std::vector<SiteMount> mounts, Admit admit) {
  if (std::string why = GatesProblem(shared->gates); !why.empty()) return Error{why};
  for (const auto& m : mounts)
    if (std::string why = MountProblem(m); !why.empty()) return Error{why};
  return std::shared_ptr<SiteHandler>(
      new SiteHandler(shared, reader, std::move(fallback), std::move(mounts), std::move(admit)));
}

SiteHandler::SiteHandler(SitesShared* shared, int reader, Handler fallback,
                         std::vector<SiteMount> mounts, Admit admit)
    : shared_(shared),
      reader_(reader),
      fallback_(std::move(fallback)),
      mounts_(std::move(mounts)),
      admit_(std::move(admit)) {
  std::stable_sort(mounts_.begin(), mounts_.end(),
                   [](const SiteMount& a, const SiteMount& b) { return a.priority > b.priority; });
}

const SiteHandler::Route* SiteHandler::LookupHost(const std::string& host) {
  auto it = hosts_.find(host);
  if (it != hosts_.end()) return &it->second;
  if (hosts_.size() >= kMaxHosts) hosts_.clear();
  Route route;
  store::Connection& rd = shared_->store->Reader(reader_);
  // The exact name, then wildcards from the closest: a.b.example.com ->
  // *.b.example.com -> *.example.com -> *.com.
  std::string candidate = host;
  size_t dot = std::string::npos;
  while (true) {
    store::Statement st = rd.Named("hosts.lookup");
    st.Bind(1, candidate);
    Status s = OkStatus();
    if (st.Step(&s)) {
      route.site_id = st.Int(0);
      route.live_version = st.IsNull(1) ? 0 : st.Int(1);
      route.spa = st.Int(2) != 0;
      route.name = std::string(st.Text(3));
      route.hsts = st.Int(4) != 0;
      if (!st.IsNull(5)) route.info.proxy_json = std::string(st.Text(5));
      route.rate_limit = st.Int(6);
      route.rate_burst = st.Int(7);
      break;
    }
    dot = host.find('.', dot == std::string::npos ? 0 : dot + 1);
    if (dot == std::string::npos) break;
    candidate = "*" + host.substr(dot);
  }
  if (route.site_id == 0) {
    // A preview: "<version>.preview.<site>" serves that version of that site.
    size_t dot = host.find('.');
    if (dot != std::string::npos && dot > 0 && dot <= 18 &&
        host.compare(dot, 9, ".preview.") == 0 && host.find_first_not_of("0123456789") == dot) {
      int64_t version = std::stoll(host.substr(0, dot));
      store::Statement site = rd.Named("sites.by_name");
      site.Bind(1, std::string_view(host).substr(dot + 9));
      Status s = OkStatus();
      if (site.Step(&s)) {
        int64_t site_id = site.Int(0);
        route.name = std::string(std::string_view(host).substr(dot + 9));
        store::Statement v = rd.Named("versions.get");
        v.Bind(1, version);
        route.site_id = site_id;
        if (v.Step(&s) && v.Int(0) == site_id && v.Text(1) != "pending") {
          route.live_version = version;
          route.expires_at = v.IsNull(2) ? 0 : v.Int(2);
        } else {
          route.no_such_preview = true;
        }
      }
    }
  }
  if (route.site_id == 0 && host != shared_->admin_host) {
    // No site claims it: the default site, if one is set (never on the
    // console's own host name, whose origin it would share).
    store::Statement st = rd.Named("sites.default");
    Status s = OkStatus();
    if (st.Step(&s)) {
      route.site_id = st.Int(0);
      route.live_version = st.IsNull(1) ? 0 : st.Int(1);
      route.spa = st.Int(2) != 0;
      route.name = std::string(st.Text(3));
      route.hsts = st.Int(4) != 0;
      if (!st.IsNull(5)) route.info.proxy_json = std::string(st.Text(5));
      route.rate_limit = st.Int(6);
      route.rate_burst = st.Int(7);
    }
  }
  route.info.id = route.site_id;
  route.info.name = route.name;
  route.info.no_such_preview = route.no_such_preview;
  if (route.site_id != 0)
    for (const SiteMount& m : mounts_)
      route.states.push_back(m.prepare ? m.prepare(route.info) : std::make_shared<const int>(0));
  return &(hosts_[host] = std::move(route));
}

SiteHandler::Files* SiteHandler::VersionFiles(int64_t version) {
  auto it = versions_.find(version);
  if (it != versions_.end()) return it->second.get();
  if (versions_.size() >= kMaxVersions) {
    versions_.clear();
    prepared_bytes_ = 0;
  }
  auto files = std::make_unique<Files>();
  store::Statement st = shared_->store->Reader(reader_).Named("files.of_version");
  st.Bind(1, version);
  Status s = OkStatus();
  while (st.Step(&s)) {
    File f{std::string(st.Text(1)), static_cast<uint64_t>(st.Int(2)), 0, {}};
    std::string_view encs = st.Text(3);
    for (int i = 0; i < 3; ++i)
      if (encs.find(EncodingName(kEncodings[i])) != std::string_view::npos) f.variants |= 1u << i;
    (*files)[std::string(st.Text(0))] = std::move(f);
  }
  Files* raw = files.get();
  versions_[version] = std::move(files);
  return raw;
}

std::shared_ptr<const std::string> SiteHandler::Blob(const std::string& hash, int encoding) {
  store::Connection& rd = shared_->store->Reader(reader_);
  store::Statement st = encoding >= 0 ? rd.Named("variants.get") : rd.Named("blobs.get");
  st.Bind(1, hash);
  if (encoding >= 0) st.Bind(2, std::string_view(EncodingName(kEncodings[encoding])));
  Status s = OkStatus();
  if (!st.Step(&s)) return nullptr;
  return std::make_shared<const std::string>(st.Blob(0));
}

std::optional<uint64_t> SiteHandler::BlobSize(const std::string& hash, int encoding,
                                              uint64_t identity_size) {
  store::Connection& rd = shared_->store->Reader(reader_);
  store::Statement st = encoding >= 0 ? rd.Named("variants.rowid_size") : rd.Named("blobs.rowid");
  st.Bind(1, hash);
  if (encoding >= 0) st.Bind(2, std::string_view(EncodingName(kEncodings[encoding])));
  Status s = OkStatus();
  if (!st.Step(&s)) return std::nullopt;
  return encoding >= 0 ? static_cast<uint64_t>(st.Int(1)) : identity_size;
}

std::function<bool(std::string&)> SiteHandler::BlobStream(const std::string& hash, int encoding,
                                                          uint64_t start, uint64_t len) {
  return [store = shared_->store, reader = reader_, hash, encoding, off = start,
          left = len](std::string& out) mutable {
    if (left == 0) return false;
    store::Connection& rd = store->Reader(reader);
    int64_t rowid;
    {
      // By hash each time: if the blob was collected meanwhile the stream
      // ends short (and the connection with it) rather than read another row.
      store::Statement st =
          encoding >= 0 ? rd.Named("variants.rowid_size") : rd.Named("blobs.rowid");
      st.Bind(1, hash);
      if (encoding >= 0) st.Bind(2, std::string_view(EncodingName(kEncodings[encoding])));
      Status s = OkStatus();
      if (!st.Step(&s)) return false;
      rowid = st.Int(0);
    }
    size_t n = left < kStreamPiece ? static_cast<size_t>(left) : kStreamPiece;
    if (!rd.ReadBlob(encoding >= 0 ? "blob_variants" : "blobs", "data", rowid, off, n, &out).ok()) {
      out.clear();
      return false;
    }
    off += n;
    left -= n;
    return left > 0;
  };
}

void SiteHandler::ServeFile(Request& req, Response& res, const std::string& path, File& f,
                            int status) {
  int encoding = f.variants ? ChooseEncoding(req.Header("Accept-Encoding"), f.variants) : -1;
  std::shared_ptr<const Prepared>& slot = f.prepared[encoding + 1];
  // Made only for a large blob: a cache hit allocates nothing.
  auto streamer = [this, &f, encoding](const Prepared& p) -> OpenStream {
    if (p.data) return nullptr;
    return [this, hash = f.hash, encoding](uint64_t start, uint64_t len) {
      return BlobStream(hash, encoding, start, len);
    };
  };
  if (!slot) {
    auto p = std::make_shared<Prepared>();
    if (f.size > kStreamAbove) {
      auto size = BlobSize(f.hash, encoding, f.size);
      if (!size) {
        res.SetError(500, "a file of this version is missing from the store");
        return;
      }
      p->size = *size;
    } else {
      p->data = Blob(f.hash, encoding);
      if (!p->data) {
        res.SetError(500, "a file of this version is missing from the store");
        return;
      }
      p->size = p->data->size();
    }
    // The content hash is the ETag: the same bytes have the same tag in every
    // version. Each encoding is its own representation, with its own tag.
    p->etag = "\"" + f.hash.substr(0, 32);
    if (encoding >= 0) p->etag += std::string("-") + EncodingName(kEncodings[encoding]);
    p->etag += "\"";
    p->fields = "Content-Type: ";
    p->fields.append(MimeTypeForPath(path));
    if (encoding >= 0)
      p->fields += std::string("\r\nContent-Encoding: ") + EncodingName(kEncodings[encoding]);
    if (f.variants) p->fields += "\r\nVary: Accept-Encoding";
    p->fields += "\r\nETag: " + p->etag + "\r\nAccept-Ranges: bytes\r\nCache-Control: ";
    bool html = EndsWith(path, ".html");
    p->fields +=
        (!html && Fingerprinted(path)) ? "public, max-age=31536000, immutable" : "no-cache";
    p->fields += "\r\n";
    uint64_t held = p->data ? p->data->size() : 0;
    // Bounded memory: past the budget, start over (file lists reload from the store).
    if (prepared_bytes_ + held > kBlobCacheBytes) {
      std::shared_ptr<const Prepared> keep = p;
      OpenStream open_stream = streamer(*keep);
      versions_.clear();  // `f` and `slot` die here: answer from `keep`
      prepared_bytes_ = 0;
      ServePrepared(req, res, *keep, status, open_stream);
      return;
    }
    prepared_bytes_ += held;
    slot = std::move(p);
  }
  ServePrepared(req, res, *slot, status, streamer(*slot));
}

void SiteHandler::Refresh() {
  uint64_t gen = shared_->generation.load(std::memory_order_acquire);
  if (gen != generation_) {
    hosts_.clear();
    versions_.clear();
    prepared_bytes_ = 0;
    generation_ = gen;
  }
}

const SiteMount* SiteHandler::MountFor(const Route& route, const Request& req,
                                       size_t* index) const {
  for (size_t i = 0; i < mounts_.size() && i < route.states.size(); ++i) {
    if (!route.states[i] || !mounts_[i].takes(route.info, route.states[i].get(), req)) continue;
    *index = i;
    return &mounts_[i];
  }
  return nullptr;
}

bool SiteHandler::RedirectsToHttps(const Request& req) const {
  const FrontGates& g = shared_->gates;
  return !req.tls && g.https_port && g.has_certificate(req.host_lower_);
}

bool SiteHandler::StreamsBody(const Request& req) {
  Refresh();
  const Route* route = LookupHost(req.host_lower_);
  if (route->site_id == 0 || RedirectsToHttps(req)) return false;
  size_t index = 0;
  const SiteMount* m = MountFor(*route, req, &index);
  return m && m->streams_body;
}

void SiteHandler::Serve(Request& req, Response& res) {
  Refresh();
  // The front gates: the ACME challenge, the site's rate limit, the HTTPS
  // redirect. Then the site's mounts, by priority; then its files.
  constexpr std::string_view kChallenge = "/.well-known/acme-challenge/";
  const FrontGates& gates = shared_->gates;
  if (req.path.substr(0, kChallenge.size()) == kChallenge) {
    // ACME's HTTP-01: the CA checks that this server holds the token.
    if (auto answer = gates.acme_answer(std::string_view(req.path).substr(kChallenge.size()))) {
      res.SetText(200, "text/plain", *answer);
      return;
    }
  }
  const Route* route = LookupHost(req.host_lower_);
  if (route->site_id == 0) {
    fallback_(req, res);
    return;
  }
  if (route->rate_limit > 0 &&
      !gates.rate_limit(req, res, route->name, route->rate_limit, route->rate_burst))
    return;
  if (RedirectsToHttps(req) && req.path.rfind("/.well-known/acme-challenge/", 0) != 0) {
    // A site with a certificate is served over HTTPS only.
    std::string to = "https://" + req.host_lower_;
    if (gates.https_port != 443) to += ":" + std::to_string(gates.https_port);
    to.append(req.path);
    if (!req.query.empty()) to.append("?").append(req.query);
    res.SetError(308);
    res.SetHeader("Location", to);
    return;
  }
  size_t index = 0;
  bool hsts = true;
  if (const SiteMount* m = MountFor(*route, req, &index)) {
    hsts = m->hsts;
    // The state and the site are captured, not the route: the route cache
    // may be rebuilt while the request waits its turn.
    auto serve = [m, info = route->info, state = route->states[index]](Request& r, Response& s) {
      m->serve(info, state, r, s);
    };
    if (m->admitted && admit_)
      admit_(req, res, serve);
    else
      serve(req, res);
  } else {
    ServeSite(req, res, *route);
  }
  if (hsts && req.tls && route->hsts && !res.deferred())
    res.SetHeader("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
}

void SiteHandler::ServeSite(Request& req, Response& res, const Route& r) {
  const Route* route = &r;
  if (req.method != Method::kGet && req.method != Method::kHead) {
    res.SetError(405);
    res.SetHeader("Allow", "GET, HEAD");
    return;
  }
  if (route->no_such_preview) {
    res.SetError(404, "this site has no such version");
    return;
  }
  if (route->expires_at && route->expires_at <= time(nullptr)) {
    res.SetError(404, "this preview has expired");
    return;
  }
  if (route->live_version == 0) {
    res.SetError(404, "this site has no published version yet");
    return;
  }
  PathError pe = DecodeRequestPath(req.path, &scratch_);
  if (pe == PathError::kBadEncoding || pe == PathError::kTraversal) {
    res.SetError(400, "invalid path");
    return;
  }
  Files* files = VersionFiles(route->live_version);
  auto find = [&](const std::string& p) -> File* {
    auto it = files->find(p);
    return it == files->end() ? nullptr : &it->second;
  };
  const std::string& rel = scratch_;
  if (pe == PathError::kNone) {
    // The exact file first (no allocation), then index.html for folders and
    // clean URLs: /about -> about.html or about/index.html.
    if (!rel.empty() && rel.back() != '/')
      if (File* f = find(rel)) return ServeFile(req, res, rel, *f, 200);
    const char* suffixes[] = {".html", "/index.html"};
    if (rel.empty() || rel.back() == '/') {
      std::string p = rel + "index.html";
      if (File* f = find(p)) return ServeFile(req, res, p, *f, 200);
    } else {
      for (const char* sfx : suffixes) {
        std::string p = rel + sfx;
        if (File* f = find(p)) return ServeFile(req, res, p, *f, 200);
      }
    }
  }
  // A single-page app routes on the client: unknown paths that do not look
  // like files get its index.html.
  if (route->spa && pe == PathError::kNone) {
    size_t slash = rel.rfind('/');
    bool has_ext = rel.find('.', slash == std::string::npos ? 0 : slash) != std::string::npos;
    if (!has_ext)
      if (File* f = find("index.html")) return ServeFile(req, res, "index.html", *f, 200);
  }
  if (File* f = find("404.html")) return ServeFile(req, res, "404.html", *f, 404);
  res.SetError(404);
}

}  // namespace hearth::sites

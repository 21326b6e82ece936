// The control API's certificates: /_hearth/api/certs[/{id}] (see docs/tls.md).
// Keys are stored in hearth.db and never leave it through the API.
#include "control/certs_api.h"

#include <sqlite3.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "api/reply.h"
#include "base/log.h"
#include "base/strings.h"
#include "tls/certs.h"

namespace hearth::control {

using api::Fail;
using api::Json;
using api::Outcome;
using api::Refuse;
namespace {

using nlohmann::json;

constexpr size_t kMaxPem = 64 * 1024;

json CertJson(int64_t id, const json& hosts, std::string_view source, std::string_view issuer,
              int64_t not_after, int64_t created_at) {
  int64_t now = static_cast<int64_t>(time(nullptr));
  return {{"id", id},
          {"hosts", hosts},
          {"source", source},
          {"issuer", issuer},
          {"not_after", not_after},
          {"expires_in_days", (not_after - now) / 86400},
          {"expired", not_after <= now},
          {"created_at", created_at}};
}

// A row of certs.list or certs.one (id, hosts as JSON text, source, issuer,
// not_after, created_at), described.
json CertRowJson(store::Statement& st) {
  json hosts = json::parse(st.Text(1), nullptr, false);
  return CertJson(st.Int(0), hosts.is_array() ? hosts : json::array(), st.Text(2), st.Text(3),
                  st.Int(4), st.Int(5));
}

// Every certificate, for TlsServer::Install, read on `c` (the writer, once
// the change committed: what is installed is what committed).
Status ReadAll(store::Connection& c, std::vector<tls::CertRecord>* out) {
  store::Statement st = c.Named("certs.all");
  Status s = OkStatus();
  while (st.Step(&s)) out->push_back({st.Int(0), std::string(st.Text(1)), std::string(st.Text(2))});
  return s;
}

// Stores a checked certificate and answers 201 with its description; the
// server serves it from the moment the write commits.
void Store(ControlShared* shared, Response& res, std::string cert_pem, std::string key_pem,
           std::string source, const tls::CertInfo& info) {
  auto reply = res.Defer();
  json hosts = info.hosts;
  api::SubmitWrite(
      shared->store, reply,
      [cert_pem, key_pem, source, info, hosts](store::Connection& c, Outcome* o) -> Status {
        store::Statement st = c.Named("certs.insert");
        st.Bind(1, hosts.dump())
            .Bind(2, cert_pem)
            .Bind(3, key_pem)
            .Bind(4, source)
            .Bind(5, info.issuer)
            .Bind(6, info.not_after);
        if (Status s = st.Run(); !s.ok()) return s;
        int64_t id = sqlite3_last_insert_rowid(c.raw());
        o->status = 201;
        o->body = CertJson(id, hosts, source, info.issuer, info.not_after,
                           static_cast<int64_t>(time(nullptr)));
        o->body["cert_pem"] = cert_pem;  // public: what a client may be told to trust
        return OkStatus();
      });
}

}  // namespace

void ObserveCerts(ControlShared* shared, store::Store* store) {
  struct Seen {
    bool certs = false, ca = false;
  };
  auto seen = std::make_shared<Seen>();
  store::Observers::Observer o;
  o.wants = [](std::string_view t) { return t == "certs" || t == "meta"; };
  o.row = [seen](store::Connection&, const store::RowChange& ch) {
    if (ch.table == "certs") {
      seen->certs = true;
      return;
    }
    const store::Value& key = ch.op == store::RowOp::kInsert ? ch.New("key") : ch.Old("key");
    if (key.text() == "local_ca_cert" || key.text() == "local_ca_key") seen->ca = true;
  };
  o.end = [shared, seen](store::Connection& c) {
    Seen now = *seen;
    *seen = Seen{};
    if (!now.certs && !now.ca) return;  // other meta rows
    if (now.certs && shared->tls) {
      std::vector<tls::CertRecord> all;
      if (Status s = ReadAll(c, &all); !s.ok()) {
        Log(LogLevel::kError, "cannot read the certificates after a change",
            {{"error", s.error().message}});
      } else {
        shared->tls->Install(all, nullptr, ++shared->cert_version);
      }
    }
    if (now.ca && shared->tls) {
      std::string pem[2];
      const char* keys[2] = {"local_ca_cert", "local_ca_key"};
      for (int i = 0; i < 2; ++i) {
        store::Statement st = c.Named("meta.get");
        st.Bind(1, std::string_view(keys[i]));
        Status s = OkStatus();
        if (st.Step(&s)) pem[i] = std::string(st.Text(0));
      }
      if (!pem[0].empty() && !pem[1].empty())
        shared->tls->SetLocalCa(std::make_shared<tls::KeyPair>(tls::KeyPair{pem[0], pem[1]}));
    }
    if (shared->certs_changed) shared->certs_changed();
  };
  store->observers().Add(std::move(o));
}

void ServeCerts(ControlShared* shared, store::Connection& rd,
                const std::vector<std::string_view>& seg, Method m, Response& res,
                const json& body) {
  if (seg.size() == 1) {
    if (m == Method::kGet)
      return api::ListItems(res, rd, "certs.list", CertRowJson,
                            {{"https", shared->tls != nullptr}});
    if (body.contains("self_signed")) {
      const json& ss = body["self_signed"];
      if (!ss.is_object() || !ss.contains("hosts") || !ss["hosts"].is_array() ||
          ss["hosts"].empty())
        return Fail(res, 400, "self_signed needs hosts: a list of host names");
      std::vector<std::string> hosts;
      for (const auto& h : ss["hosts"]) {
        if (!h.is_string() || !tls::IsCertHost(h.get<std::string>()))
          return Fail(res, 400,
                      "\"" + (h.is_string() ? h.get<std::string>() : h.dump()) +
                          "\" is not a host name or IP address");
        std::string lower;
        for (char ch : h.get<std::string>()) lower.push_back(AsciiLower(ch));
        hosts.push_back(lower);
      }
      int days = 90;
      if (ss.contains("days")) {
        if (!ss["days"].is_number_integer() || ss["days"].get<int64_t>() < 1 ||
            ss["days"].get<int64_t>() > 3650)
          return Fail(res, 400, "days must be a whole number from 1 to 3650");
        days = static_cast<int>(ss["days"].get<int64_t>());
      }
      auto made = tls::MakeSelfSigned(hosts, days);
      if (!made.ok()) return Fail(res, 400, made.error().message);
      auto info = tls::Inspect(made->cert_pem, made->key_pem);
      if (!info.ok()) return Fail(res, 500, info.error().message);
      return Store(shared, res, made->cert_pem, made->key_pem, "self-signed", *info);
    }
    if (body.contains("cert_pem") || body.contains("key_pem")) {
      if (!body.contains("cert_pem") || !body.contains("key_pem") ||
          !body["cert_pem"].is_string() || !body["key_pem"].is_string())
        return Fail(res, 400, "cert_pem and key_pem must both be PEM text");
      std::string cert = body["cert_pem"].get<std::string>(),
                  key = body["key_pem"].get<std::string>();
      if (cert.size() > kMaxPem || key.size() > kMaxPem)
        return Fail(res, 400, "a PEM file is at most 64 KiB");
      auto info = tls::Inspect(cert, key);
      if (!info.ok()) return Fail(res, 400, info.error().message);
      if (info->not_after <= static_cast<int64_t>(time(nullptr)))
        return Fail(res, 400, "the certificate has expired");
      return Store(shared, res, std::move(cert), std::move(key), "imported", *info);
    }
    return Fail(
        res, 400,
        "expected {\"self_signed\": {\"hosts\": [...]}} or {\"cert_pem\": ..., \"key_pem\": ...}");
  }
  if (seg.size() == 2 && seg[1] == "local-ca") {
    if (m == Method::kGet) {
      store::Statement st = rd.Named("meta.get");
      st.Bind(1, std::string_view("local_ca_cert"));
      Status s = OkStatus();
      if (!st.Step(&s))
        return Fail(res, 404, "no local CA yet: POST to create it (hearth cert local-ca)");
      return Json(res, 200, {{"cert_pem", std::string(st.Text(0))}});
    }
    // Made here (a key and a signature), stored unless one exists already:
    // the first CA made is kept, so what people trusted stays trusted.
    auto made = tls::MakeLocalCa();
    if (!made.ok()) return Fail(res, 500, made.error().message);
    auto kept = std::make_shared<tls::KeyPair>(*made);
    return api::DeferWrite(shared->store, res, [kept](store::Connection& c, Outcome* o) -> Status {
      bool created = true;
      {
        store::Statement st = c.Named("meta.get");
        st.Bind(1, std::string_view("local_ca_cert"));
        Status s = OkStatus();
        if (st.Step(&s)) {
          kept->cert_pem = std::string(st.Text(0));
          created = false;
        }
        if (!s.ok()) return s;
      }
      if (created) {
        if (Status s = c.Named("meta.put")
                           .Bind(1, std::string_view("local_ca_cert"))
                           .Bind(2, kept->cert_pem)
                           .Run();
            !s.ok())
          return s;
        if (Status s = c.Named("meta.put")
                           .Bind(1, std::string_view("local_ca_key"))
                           .Bind(2, kept->key_pem)
                           .Run();
            !s.ok())
          return s;
      }
      o->status = created ? 201 : 200;
      o->body = {{"cert_pem", kept->cert_pem}, {"created", created}};
      return OkStatus();
    });
  }
  if (seg.size() == 2) {
    uint64_t id = 0;
    if (!ParseUint(seg[1], &id) || id == 0 || id > (1ull << 62))
      return Fail(res, 404, "no such certificate");
    if (m == Method::kGet) {
      store::Statement st = rd.Named("certs.one");
      st.Bind(1, static_cast<int64_t>(id));
      Status s = OkStatus();
      if (!st.Step(&s)) return Fail(res, 404, "no certificate " + std::to_string(id));
      json out = CertRowJson(st);
      out["cert_pem"] = std::string(st.Text(6));
      return Json(res, 200, out);
    }
    return api::DeferWrite(shared->store, res, [id](store::Connection& c, Outcome* o) -> Status {
      if (Status s = c.Named("certs.delete").Bind(1, static_cast<int64_t>(id)).Run(); !s.ok())
        return s;
      if (c.Changes() == 0) return Refuse(o, 404, "no certificate " + std::to_string(id));
      o->status = 204;
      return OkStatus();
    });
  }
  return Fail(res, 404, "no such endpoint");
}

}  // namespace hearth::control

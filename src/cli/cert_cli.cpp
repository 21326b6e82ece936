#include "cli/cert_cli.h"

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>

#include "cli/client.h"

namespace hearth::cli {

using nlohmann::json;

struct CertCli::State {
  ClientOptions client;
  std::vector<CLI::Option*> server_opts, token_opts;
  std::vector<std::string> hosts;
  int days = 90;
  std::string cert_file, key_file, out_file, id;
  CLI::App *cert = nullptr, *self_signed = nullptr, *import = nullptr, *list = nullptr,
           *rm = nullptr, *local_ca = nullptr;
};

namespace {

int Fail(const std::string& message) {
  fprintf(stderr, "hearth: %s\n", message.c_str());
  return 1;
}

Result<std::string> ReadText(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Error{"cannot read " + file};
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > 64 * 1024)
    return Error{file + " is larger than 64 KiB: not a PEM certificate or key"};
  return text;
}

std::string Line(const json& c) {
  std::string hosts;
  for (const auto& h : c["hosts"]) hosts += (hosts.empty() ? "" : ",") + h.get<std::string>();
  char when[32] = "";
  time_t t = static_cast<time_t>(c["not_after"].get<int64_t>());
  tm g;
  gmtime_r(&t, &g);
  strftime(when, sizeof when, "%Y-%m-%d", &g);
  char line[1024];
  snprintf(line, sizeof line, "%-4lld %-40s %-12s expires %s (%s)  %s",
           static_cast<long long>(c["id"].get<int64_t>()), hosts.c_str(),
           c["source"].get<std::string>().c_str(), when,
           c["expired"].get<bool>()
               ? "expired"
               : (std::to_string(c["expires_in_days"].get<int64_t>()) + " days").c_str(),
           c["issuer"].get<std::string>().c_str());
  return line;
}

}  // namespace

void CertCli::Register(CLI::App* app) {
  s_ = std::make_shared<State>();
  State& s = *s_;
  s.cert = app->add_subcommand(
      "cert", "HTTPS certificates of a running server: self-signed, import, list, rm");
  AddClientFlags(s.cert, &s.client, &s.server_opts, &s.token_opts);
  s.cert->fallthrough();
  s.cert->require_subcommand(1);
  s.self_signed = s.cert->add_subcommand(
      "self-signed", "Make a self-signed certificate (ECDSA P-256) for hosts and serve it");
  s.self_signed
      ->add_option("--host", s.hosts, "a host name, *.wildcard or IP address it covers (repeat)")
      ->required();
  s.self_signed->add_option("--days", s.days, "days it is valid [default: 90]")
      ->check(CLI::Range(1, 3650));
  s.self_signed->add_option("--out", s.out_file,
                            "also write the certificate (not the key) to this file, to trust it");
  s.import = s.cert->add_subcommand("import", "Serve a certificate and key you have (PEM files)");
  s.import->add_option("--cert", s.cert_file, "the certificate, then its chain (PEM)")->required();
  s.import->add_option("--key", s.key_file, "its private key (PEM, unencrypted)")->required();
  s.list = s.cert->add_subcommand("list", "List the certificates: hosts, issuer, expiry");
  s.local_ca = s.cert->add_subcommand(
      "local-ca",
      "Create (once) a local CA for development hosts: *.localhost then get certificates it signs");
  s.local_ca->add_option("--out", s.out_file,
                         "where to write the CA's certificate [default: hearth-local-ca.pem]");
  s.rm = s.cert->add_subcommand("rm", "Stop serving a certificate and delete it");
  s.rm->add_option("id", s.id, "the certificate's id (from cert list)")->required();
}

int CertCli::RunIfParsed() {
  State& s = *s_;
  if (!s.cert->parsed()) return -1;
  bool server_given = false, token_given = false;
  for (auto* o : s.server_opts) server_given = server_given || o->count() > 0;
  for (auto* o : s.token_opts) token_given = token_given || o->count() > 0;
  if (Status st = ResolveClient(&s.client, server_given, token_given); !st.ok())
    return Fail(st.error().message);
  auto done = [&](const ApiResult& r, const std::string& text) {
    if (s.client.json)
      printf("%s\n", r.body.dump().c_str());
    else
      printf("%s\n", text.c_str());
    return 0;
  };
  if (s.self_signed->parsed()) {
    json body = {{"self_signed", {{"hosts", s.hosts}, {"days", s.days}}}};
    auto r = CallApi(s.client, "POST", "/certs", body.dump());
    if (!r.ok()) return Fail(r.error().message);
    if (!s.out_file.empty()) {
      std::ofstream out(s.out_file, std::ios::binary | std::ios::trunc);
      out << r->body["cert_pem"].get<std::string>();
      if (!out) return Fail("cannot write " + s.out_file);
    }
    return done(*r, "serving " + Line(r->body) +
                        (s.out_file.empty() ? ""
                                            : "\ncertificate written to " + s.out_file +
                                                  " (trust it: curl --cacert " + s.out_file + ")"));
  }
  if (s.import->parsed()) {
    auto cert = ReadText(s.cert_file);
    if (!cert.ok()) return Fail(cert.error().message);
    auto key = ReadText(s.key_file);
    if (!key.ok()) return Fail(key.error().message);
    json body = {{"cert_pem", *cert}, {"key_pem", *key}};
    auto r = CallApi(s.client, "POST", "/certs", body.dump());
    if (!r.ok()) return Fail(r.error().message);
    return done(*r, "serving " + Line(r->body));
  }
  if (s.local_ca->parsed()) {
    auto r = CallApi(s.client, "POST", "/certs/local-ca", "{}");
    if (!r.ok()) return Fail(r.error().message);
    std::string file = s.out_file.empty() ? "hearth-local-ca.pem" : s.out_file;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << r->body["cert_pem"].get<std::string>();
    if (!out) return Fail("cannot write " + file);
    return done(
        *r,
        std::string(r->body["created"].get<bool>() ? "created" : "the server already has") +
            " a local CA; its certificate is in " + file +
            "\nHTTPS for localhost and *.localhost now uses certificates it signs. To trust it:\n"
            "  curl:          curl --cacert " +
            file +
            " https://app.localhost:PORT/\n"
            "  Debian/Ubuntu: sudo cp " +
            file +
            " /usr/local/share/ca-certificates/hearth-local-ca.crt"
            " && sudo update-ca-certificates\n"
            "  browsers:      import " +
            file + " as an authority in the browser's certificate settings");
  }
  if (s.rm->parsed()) {
    auto r = CallApi(s.client, "DELETE", "/certs/" + s.id, "");
    if (!r.ok()) return Fail(r.error().message);
    return done(*r, "removed certificate " + s.id);
  }
  auto r = CallApi(s.client, "GET", "/certs", "");
  if (!r.ok()) return Fail(r.error().message);
  if (s.client.json) return done(*r, "");
  if (!r->body["https"].get<bool>())
    printf("note: this server has no --https listener; certificates are kept but not served\n");
  if (r->body["items"].empty())
    printf("no certificates yet: hearth cert self-signed --host NAME\n");
  for (const auto& c : r->body["items"]) printf("%s\n", Line(c).c_str());
  return 0;
}

}  // namespace hearth::cli

#include "cli/tokens_cli.h"

#include <cstdio>
#include <ctime>
#include <string>

#include "base/strings.h"
#include "cli/client.h"

namespace hearth::cli {

using nlohmann::json;

struct TokensCli::State {
  ClientOptions client;
  std::vector<CLI::Option*> server_opts, token_opts;
  std::string name, id, scope = "admin", expires;
  CLI::App *tokens = nullptr, *list = nullptr, *add = nullptr, *rm = nullptr;
};

namespace {

int Fail(const std::string& message) {
  fprintf(stderr, "hearth: %s\n", message.c_str());
  return 1;
}

std::string When(const json& v, const char* none) {
  if (!v.is_number()) return none;
  time_t t = v.get<int64_t>();
  char buf[32];
  tm utc{};
  gmtime_r(&t, &utc);
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &utc);
  return buf;
}

}  // namespace

void TokensCli::Register(CLI::App* app) {
  s_ = std::make_shared<State>();
  State& s = *s_;
  s.tokens = app->add_subcommand(
      "tokens", "API tokens: list them, add one with a scope and an expiry, revoke one");
  // The client flags on the group and on each verb, so they may come before or after it.
  auto client_flags = [&](CLI::App* sub) {
    AddClientFlags(sub, &s.client, &s.server_opts, &s.token_opts);
  };
  client_flags(s.tokens);
  s.list = s.tokens->add_subcommand(
      "list", "List the tokens: id, name, scope, created, expires, last used (the default)");
  client_flags(s.list);
  s.add = s.tokens->add_subcommand("add", "Add a token and print its secret (shown once)");
  s.add->add_option("name", s.name, "what the token is for, such as ci")->required();
  s.add->add_option("--scope", s.scope,
                    "admin (everything), read (GET only), or deploy:SITE (deploy and roll back "
                    "SITE only) [default: admin]");
  s.add->add_option("--expires", s.expires,
                    "when it stops working: a duration (30d, 2w, 12h) or a UTC date (2030-12-31) "
                    "[default: never]");
  client_flags(s.add);
  s.rm = s.tokens->add_subcommand("rm", "Revoke a token at once (its console sessions end too)");
  s.rm->add_option("id", s.id,
                   "the token's id (from hearth tokens; one made before ids were hex may begin "
                   "with -: put it last, after --: hearth tokens rm [flags] -- ID)")
      ->required();
  client_flags(s.rm);
}

int TokensCli::RunIfParsed() {
  State& s = *s_;
  if (!s.tokens->parsed()) return -1;
  bool server_given = false, token_given = false;
  for (auto* o : s.server_opts) server_given = server_given || o->count() > 0;
  for (auto* o : s.token_opts) token_given = token_given || o->count() > 0;
  if (Status st = ResolveClient(&s.client, server_given, token_given); !st.ok())
    return Fail(st.error().message);
  if (!IsValidUtf8(s.name) || !IsValidUtf8(s.id) || !IsValidUtf8(s.scope) ||
      !IsValidUtf8(s.expires))
    return Fail("the arguments are not UTF-8 text");
  if (s.add->parsed()) {
    json body = {{"name", s.name}, {"scope", s.scope}};
    if (!s.expires.empty()) body["expires"] = s.expires;
    auto r = CallApi(s.client, "POST", "/tokens", body.dump());
    if (!r.ok()) return Fail(r.error().message);
    if (s.client.json) {
      printf("%s\n", r->body.dump().c_str());
      return 0;
    }
    // The secret alone on stdout (a script can take it); what it is on stderr.
    fprintf(stderr, "added token %s (%s, scope %s, expires %s); it is shown only this once:\n",
            r->body.value("id", "").c_str(), r->body.value("name", "").c_str(),
            r->body.value("scope", "").c_str(), When(r->body["expires_at"], "never").c_str());
    printf("%s\n", r->body.value("token", "").c_str());
    return 0;
  }
  if (s.rm->parsed()) {
    auto r = CallApi(s.client, "DELETE", "/tokens/" + PercentEncode(s.id), "");
    if (!r.ok()) return Fail(r.error().message);
    if (s.client.json)
      printf("%s\n", r->body.dump().c_str());
    else
      printf("revoked token %s (%lld console session(s) ended)\n", s.id.c_str(),
             static_cast<long long>(r->body.value("sessions_ended", int64_t{0})));
    return 0;
  }
  auto r = CallApi(s.client, "GET", "/tokens", "");
  if (!r.ok()) return Fail(r.error().message);
  if (s.client.json) {
    printf("%s\n", r->body.dump().c_str());
    return 0;
  }
  printf("%-12s %-20s %-28s %-16s %-16s %s\n", "ID", "NAME", "SCOPE", "CREATED", "EXPIRES",
         "LAST USED");
  for (const auto& t : r->body["items"])
    printf("%-12s %-20s %-28s %-16s %-16s %s\n", t.value("id", "").c_str(),
           t.value("name", "").c_str(), t.value("scope", "").c_str(),
           When(t["created_at"], "-").c_str(), When(t["expires_at"], "never").c_str(),
           When(t["last_used_at"], "never").c_str());
  return 0;
}

}  // namespace hearth::cli

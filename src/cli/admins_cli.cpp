#include "cli/admins_cli.h"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include "base/strings.h"
#include "cli/client.h"

namespace hearth::cli {

using nlohmann::json;

struct AdminsCli::State {
  ClientOptions client;
  std::vector<CLI::Option*> server_opts, token_opts;
  std::string email;
  CLI::App *admins = nullptr, *list = nullptr, *add = nullptr, *passwd = nullptr, *rm = nullptr;
};

namespace {

int Fail(const std::string& message) {
  fprintf(stderr, "hearth: %s\n", message.c_str());
  return 1;
}

// One line typed at the terminal with echo off (the prompt on stderr).
Result<std::string> Prompt(const std::string& prompt) {
  fputs(prompt.c_str(), stderr);
  fflush(stderr);
  termios old{};
  bool restore = tcgetattr(STDIN_FILENO, &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string line;
  bool got = static_cast<bool>(std::getline(std::cin, line));
  if (restore) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  if (!got) return Error{"no password was given"};
  return line;
}

// The new password: typed twice at a terminal, or the first line of stdin.
Result<std::string> ReadPassword(const std::string& email) {
  if (!isatty(STDIN_FILENO)) {
    std::string line;
    if (!std::getline(std::cin, line))
      return Error{"no password on standard input (give it as one line)"};
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) return Error{"the password on standard input is empty"};
    return line;
  }
  auto first = Prompt("Password for " + email + ": ");
  if (!first.ok()) return first;
  auto again = Prompt("The same again: ");
  if (!again.ok()) return again;
  if (*first != *again) return Error{"the two passwords differ; nothing was changed"};
  return first;
}

std::string When(const json& v) {
  if (!v.is_number()) return "never";
  time_t t = v.get<int64_t>();
  char buf[32];
  tm utc{};
  gmtime_r(&t, &utc);
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &utc);
  return buf;
}

}  // namespace

void AdminsCli::Register(CLI::App* app) {
  s_ = std::make_shared<State>();
  State& s = *s_;
  s.admins = app->add_subcommand(
      "admins", "Admin users who log in to the console (/_hearth/) with an email and a password");
  AddClientFlags(s.admins, &s.client, &s.server_opts, &s.token_opts);
  s.admins->fallthrough();
  s.list = s.admins->add_subcommand("list", "List the admin users (the default)");
  s.add = s.admins->add_subcommand(
      "add", "Add an admin user (the password is asked for, or read from standard input)");
  s.add->add_option("email", s.email, "the admin's email address")->required();
  s.passwd =
      s.admins->add_subcommand("passwd", "Set an admin user's password (ends their sessions)");
  s.passwd->add_option("email", s.email, "the admin's email address")->required();
  s.rm = s.admins->add_subcommand("rm", "Remove an admin user (ends their sessions)");
  s.rm->add_option("email", s.email, "the admin's email address")->required();
}

int AdminsCli::RunIfParsed() {
  State& s = *s_;
  if (!s.admins->parsed()) return -1;
  bool server_given = false, token_given = false;
  for (auto* o : s.server_opts) server_given = server_given || o->count() > 0;
  for (auto* o : s.token_opts) token_given = token_given || o->count() > 0;
  if (Status st = ResolveClient(&s.client, server_given, token_given); !st.ok())
    return Fail(st.error().message);
  auto print = [&](const ApiResult& r, const std::string& text) {
    if (s.client.json)
      printf("%s\n", r.body.dump().c_str());
    else
      printf("%s\n", text.c_str());
    return 0;
  };
  if (!IsValidUtf8(s.email)) return Fail("the email is not UTF-8 text");
  std::string one = "/admins/" + PercentEncode(s.email);
  if (s.add->parsed() || s.passwd->parsed()) {
    auto password = ReadPassword(s.email);
    if (!password.ok()) return Fail(password.error().message);
    if (!IsValidUtf8(*password)) return Fail("the password is not UTF-8 text");
    json body = {{"password", *password}};
    if (s.add->parsed()) body["email"] = s.email;
    auto r = s.add->parsed() ? CallApi(s.client, "POST", "/admins", body.dump())
                             : CallApi(s.client, "PATCH", one, body.dump());
    if (!r.ok()) return Fail(r.error().message);
    if (s.add->parsed())
      return print(*r, "added admin " + r->body.value("email", s.email) + ": log in at /_hearth/");
    return print(*r, "set a new password for " + s.email + " (" +
                         std::to_string(r->body.value("sessions_ended", int64_t{0})) +
                         " session(s) ended)");
  }
  if (s.rm->parsed()) {
    auto r = CallApi(s.client, "DELETE", one, "");
    if (!r.ok()) return Fail(r.error().message);
    return print(*r, "removed admin " + s.email + " (" +
                         std::to_string(r->body.value("sessions_ended", int64_t{0})) +
                         " session(s) ended)");
  }
  auto r = CallApi(s.client, "GET", "/admins", "");
  if (!r.ok()) return Fail(r.error().message);
  if (s.client.json) return print(*r, "");
  if (r->body["items"].empty()) printf("no admin users yet: hearth admins add EMAIL\n");
  for (const auto& a : r->body["items"])
    printf("%-32s added %s, last login %s\n", a.value("email", "").c_str(),
           When(a["created_at"]).c_str(), When(a["last_login_at"]).c_str());
  return 0;
}

}  // namespace hearth::cli

#include "cli/data_cli.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

#include "cli/client.h"
#include "sites/manifest.h"

namespace hearth::cli {

using nlohmann::json;

struct DataCli::State {
  ClientOptions client;
  std::vector<CLI::Option*> server_opts, token_opts;
  std::string site, name, file;
  CLI::App *collections = nullptr, *list = nullptr, *show = nullptr, *create = nullptr,
           *set = nullptr, *rm = nullptr;
};

namespace {

int Fail(const std::string& message) {
  fprintf(stderr, "hearth: %s\n", message.c_str());
  return 1;
}

// A collection definition from FILE ("-": standard input), as JSON.
Result<std::string> ReadDefinition(const std::string& file) {
  std::string text;
  if (file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Error{"cannot read " + file};
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  json parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object())
    return Error{(file == "-" ? std::string("standard input") : file) + " is not a JSON object"};
  return parsed.dump();
}

std::string Describe(const json& c) {
  std::string fields;
  for (const auto& f : c["fields"]) {
    if (f.value("system", false)) continue;
    fields += (fields.empty() ? "" : ", ") + f["name"].get<std::string>() + " " +
              f["type"].get<std::string>();
  }
  return fields;
}

}  // namespace

void DataCli::Register(CLI::App* app) {
  s_ = std::make_shared<State>();
  State& s = *s_;
  s.collections = app->add_subcommand(
      "collections", "A site's collections (its app database): list, show, create, set, rm");
  s.collections->add_option("--site", s.site, "host name of the site")->required();
  AddClientFlags(s.collections, &s.client, &s.server_opts, &s.token_opts);
  s.collections->fallthrough();
  s.list = s.collections->add_subcommand("list", "List the collections (the default)");
  s.show = s.collections->add_subcommand("show",
                                         "Print one collection: its fields, rules and JSON Schema");
  s.show->add_option("name", s.name, "the collection")->required();
  s.create = s.collections->add_subcommand(
      "create", "Create a collection from a JSON definition (see docs/data.md)");
  s.create->add_option("file", s.file, "the definition (a JSON file, or - for standard input)")
      ->required();
  s.set = s.collections->add_subcommand(
      "set", "Change a collection's fields or rules from a JSON definition");
  s.set->add_option("name", s.name, "the collection")->required();
  s.set->add_option("file", s.file, "the changes (a JSON file, or - for standard input)")
      ->required();
  s.rm = s.collections->add_subcommand("rm", "Delete a collection and all its records");
  s.rm->add_option("name", s.name, "the collection")->required();
}

int DataCli::RunIfParsed() {
  State& s = *s_;
  if (!s.collections->parsed()) return -1;
  bool server_given = false, token_given = false;
  for (auto* o : s.server_opts) server_given = server_given || o->count() > 0;
  for (auto* o : s.token_opts) token_given = token_given || o->count() > 0;
  if (Status st = ResolveClient(&s.client, server_given, token_given); !st.ok())
    return Fail(st.error().message);
  auto host = sites::NormalizeHost(s.site);
  if (!host.ok()) return Fail(host.error().message);
  std::string base = "/sites/" + *host + "/collections";
  auto print = [&](const ApiResult& r, const std::string& text) {
    if (s.client.json)
      printf("%s\n", r.body.dump().c_str());
    else
      printf("%s\n", text.c_str());
    return 0;
  };
  if (s.create->parsed() || s.set->parsed()) {
    auto def = ReadDefinition(s.file);
    if (!def.ok()) return Fail(def.error().message);
    auto r = s.create->parsed() ? CallApi(s.client, "POST", base, *def)
                                : CallApi(s.client, "PATCH", base + "/" + s.name, *def);
    if (!r.ok()) return Fail(r.error().message);
    return print(*r, std::string(s.create->parsed() ? "created" : "changed") + " collection " +
                         r->body["name"].get<std::string>() + " (schema version " +
                         std::to_string(r->body["schemaVersion"].get<int64_t>()) + ")");
  }
  if (s.rm->parsed()) {
    auto r = CallApi(s.client, "DELETE", base + "/" + s.name, "");
    if (!r.ok()) return Fail(r.error().message);
    return print(*r, "removed collection " + s.name);
  }
  if (s.show->parsed()) {
    auto r = CallApi(s.client, "GET", base + "/" + s.name, "");
    if (!r.ok()) return Fail(r.error().message);
    printf("%s\n", r->body.dump(2).c_str());
    return 0;
  }
  auto r = CallApi(s.client, "GET", base, "");
  if (!r.ok()) return Fail(r.error().message);
  if (s.client.json) return print(*r, "");
  if (r->body["items"].empty())
    printf("no collections yet: hearth collections --site %s create FILE\n", host->c_str());
  for (const auto& c : r->body["items"])
    printf("%-24s %-5s %s\n", c["name"].get<std::string>().c_str(),
           c["type"].get<std::string>().c_str(), Describe(c).c_str());
  return 0;
}

}  // namespace hearth::cli

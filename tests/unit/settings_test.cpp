#include "server/settings.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace hearth {
namespace {

std::string WriteToml(const std::string& text) {
  char tmpl[] = "/tmp/hearth-settings-XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  std::ofstream(tmpl) << text;
  return tmpl;
}

TEST(Settings, DefaultsMatchTheContract) {
  char* env[] = {nullptr};
  auto s = LoadSettings("", env, {});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->data, "./hearth-data");
  EXPECT_EQ(s->http, "127.0.0.1:8080");
  EXPECT_EQ(s->max_header_size, 16u * 1024);
  EXPECT_EQ(s->max_target_size, 8u * 1024);
  EXPECT_EQ(s->header_timeout_ms, 10000);
  EXPECT_EQ(s->origins.at("workers").source, "default");
}

TEST(Settings, PrecedenceDefaultTomlEnvFlag) {
  std::string toml = WriteToml("workers = 3\nlog-level = \"warn\"\nmax-body-size = \"1MiB\"\n");
  char e1[] = "HEARTH_LOG_LEVEL=debug";
  char e2[] = "HEARTH_WORKERS=5";
  char* env[] = {e1, e2, nullptr};
  auto s = LoadSettings(toml, env, {{"workers", "7"}});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->workers, 7);                   // flag beats env beats TOML
  EXPECT_EQ(s->log_level, LogLevel::kDebug);  // env beats TOML
  EXPECT_EQ(s->max_body_size, 1u << 20);      // TOML beats default
  EXPECT_EQ(s->origins.at("workers").source, "flag");
  EXPECT_EQ(s->origins.at("log-level").source, "env");
  EXPECT_EQ(s->origins.at("max-body-size").source, "config");
  unlink(toml.c_str());
}

TEST(Settings, UnknownTomlKeyIsNamed) {
  std::string toml = WriteToml("wrokers = 3\n");
  char* env[] = {nullptr};
  auto s = LoadSettings(toml, env, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("\"wrokers\""), std::string::npos) << s.error().message;
  unlink(toml.c_str());
}

TEST(Settings, UnknownEnvIsNamed) {
  char e[] = "HEARTH_WROKERS=2";
  char* env[] = {e, nullptr};
  auto s = LoadSettings("", env, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("HEARTH_WROKERS"), std::string::npos);
}

TEST(Settings, BadValuesNameKeyAndSource) {
  char* env[] = {nullptr};
  struct {
    const char* name;
    const char* value;
  } bad[] = {{"workers", "many"},        {"workers", "-1"},        {"max-header-size", "12XB"},
             {"header-timeout", "soon"}, {"log-level", "loud"},    {"http", "nowhere"},
             {"http", "1.2.3.4:99999"},  {"max-connections", "0"}, {"max-header-size", "10"}};
  for (const auto& b : bad) {
    auto s = LoadSettings("", env, {{b.name, b.value}});
    ASSERT_FALSE(s.ok()) << b.name << "=" << b.value;
    const std::string& m = s.error().message;
    EXPECT_NE(m.find(b.name), std::string::npos) << m;
    EXPECT_NE(m.find("--"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(Settings, MalformedTomlSaysWhere) {
  std::string toml = WriteToml("workers = \n");
  char* env[] = {nullptr};
  auto s = LoadSettings(toml, env, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find(toml + ":1"), std::string::npos) << s.error().message;
  unlink(toml.c_str());
}

TEST(Settings, RenderedTomlReadsBackTheSame) {
  char* env[] = {nullptr};
  auto s = LoadSettings("", env, {{"workers", "2"}, {"header-timeout", "1500ms"}});
  ASSERT_TRUE(s.ok());
  std::string toml = WriteToml(RenderSettingsToml(*s));
  auto again = LoadSettings(toml, env, {});
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->workers, 2);
  EXPECT_EQ(again->header_timeout_ms, 1500);
  unlink(toml.c_str());
}

TEST(Settings, EnvNames) {
  EXPECT_EQ(EnvNameFor("max-body-size"), "HEARTH_MAX_BODY_SIZE");
  EXPECT_EQ(EnvNameFor("http"), "HEARTH_HTTP");
}

}  // namespace
}  // namespace hearth

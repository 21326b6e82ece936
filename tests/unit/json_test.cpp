// base/json.h: the one way outside text becomes JSON, and the rule that
// nothing else parses outside text.
#include "base/json.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace hearth {
namespace {

std::string Nested(int n) {
  return std::string(n, '[') + std::string(n, ']');
}

TEST(ParseJson, BoundsDepthAndValues) {
  EXPECT_TRUE(ParseJson(Nested(64)).ok());
  auto deep = ParseJson(Nested(65));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().message, "The JSON is nested deeper than 64 levels.");
  // Far past the limit, unclosed: refused at the 65th level, no recursion.
  EXPECT_FALSE(ParseJson(std::string(1000000, '[')).ok());
  std::string objects;
  for (int i = 0; i < 100; ++i) objects += "{\"a\":";
  objects += "1" + std::string(100, '}');
  EXPECT_FALSE(ParseJson(objects).ok());
  std::string wide = "[";
  for (int i = 0; i < 200001; ++i) wide += i ? ",1" : "1";
  wide += "]";
  auto w = ParseJson(wide);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().message, "The JSON has more than 200000 values.");
  EXPECT_TRUE(ParseJson(wide, JsonLimits{64, 300000}).ok());
  // Keys count as values: a wide object is as dear as a wide array.
  EXPECT_FALSE(ParseJson(R"({"a":1,"b":2})", JsonLimits{64, 3}).ok());
  EXPECT_TRUE(ParseJson(R"({"a":1,"b":2})", JsonLimits{64, 5}).ok());
}

TEST(ParseJson, RefusesWhatIsNotJsonWithOneSentence) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\":1}x", "nul", "'a'", "{\"a\":01}", "\xff"}) {
    auto r = ParseJson(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message, "The body is not valid JSON.") << bad;
  }
  auto ok = ParseJson(R"({"a":[1,2.5,"x",null,true,{"b":{}}]})");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)["a"][2], "x");
}

// Outside text is parsed only through ParseJson: json::parse in any other
// file is either trusted data (listed here, with why) or a mistake.
TEST(ParseJson, NoOtherFileParsesOutsideText) {
  const std::set<std::string> trusted = {
      "src/base/json.cpp",             // the entry point itself
      "src/data/app.cpp",              // collection definitions hearth stored
      "src/data/records_common.cpp",   // json and multi-valued columns hearth stored
      "src/control/certs_api.cpp",     // certificate host lists hearth stored
      "src/control/acme_manager.cpp",  // host lists hearth stored
      "src/proxy/upstream.cpp",        // proxy settings, checked when stored
      "src/cli/client.cpp",            // the CLI reading its own server's answer
      "src/cli/data_cli.cpp",          // a file the CLI's user gave
      "src/admin/loopback.cpp",        // the console reading its own API's answer
      "src/admin/ops_pages.cpp",       // the console reading its own API's answer
  };
  std::filesystem::path root = std::filesystem::path(HEARTH_SOURCE_DIR) / "src";
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || (e.path().extension() != ".cpp" && e.path().extension() != ".h"))
      continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    std::string rel = std::filesystem::relative(e.path(), HEARTH_SOURCE_DIR).string();
    if (text.str().find("json::parse(") != std::string::npos) {
      EXPECT_TRUE(trusted.count(rel)) << rel << " parses JSON without ParseJson (base/json.h)";
    }
  }
}

}  // namespace
}  // namespace hearth

#include "sites/manifest.h"

#include <gtest/gtest.h>

namespace hearth::sites {
namespace {

const std::string kHash(64, 'a');

nlohmann::json Files(std::initializer_list<std::pair<std::string, uint64_t>> files) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& [p, size] : files) arr.push_back({{"path", p}, {"hash", kHash}, {"size", size}});
  return {{"files", arr}};
}

nlohmann::json One(const std::string& path, const nlohmann::json& hash,
                   const nlohmann::json& size) {
  nlohmann::json f = nlohmann::json::object();
  f["path"] = path;
  f["hash"] = hash;
  f["size"] = size;
  nlohmann::json j = nlohmann::json::object();
  j["files"] = nlohmann::json::array({f});
  return j;
}

TEST(Manifest, TheTestHelpersBuildWhatTheyMean) {
  EXPECT_TRUE(ParseManifest(One("a", kHash, 1), 1000, 10).ok());
  EXPECT_TRUE(ParseManifest(Files({{"a", 1}}), 1000, 10).ok());
}

TEST(Manifest, AcceptsAWellFormedManifest) {
  nlohmann::json j = Files({{"index.html", 5}, {"a/b/c.js", 0}, {".well-known/x", 1}});
  j["message"] = "hi";
  auto m = ParseManifest(j, 1000, 10);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->files.size(), 3u);
  EXPECT_EQ(m->message, "hi");
  EXPECT_EQ(m->files[1].path, "a/b/c.js");
}

TEST(Manifest, RefusesPathsThatEscapeOrAreAmbiguous) {
  const std::vector<std::string> bads = {"../etc/passwd",
                                         "a/../../b",
                                         "/abs",
                                         "a\\b",
                                         "a//b",
                                         "./a",
                                         "a/./b",
                                         "",
                                         "a/",
                                         std::string("a\0b", 3),
                                         "a\x01"
                                         "b"};
  for (const std::string& bad : bads) {
    auto m = ParseManifest(Files({{bad, 1}}), 1000, 10);
    EXPECT_FALSE(m.ok()) << "accepted " << bad;
  }
}

TEST(Manifest, RefusesDuplicatesBadHashesSizesAndShapes) {
  EXPECT_FALSE(ParseManifest(Files({{"a", 1}, {"a", 2}}), 1000, 10).ok());
  EXPECT_FALSE(ParseManifest(Files({{"a", 1001}}), 1000, 10).ok());
  EXPECT_FALSE(ParseManifest(Files({{"a", 1}, {"b", 1}, {"c", 1}}), 1000, 2).ok());
  for (const char* hash :
       {"ABC", "", "zz", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    EXPECT_FALSE(ParseManifest(One("a", hash, 1), 1000, 10).ok()) << hash;
  }
  EXPECT_FALSE(ParseManifest(nlohmann::json::array(), 1000, 10).ok());
  EXPECT_FALSE(ParseManifest({{"files", "nope"}}, 1000, 10).ok());
  EXPECT_FALSE(ParseManifest(One("a", kHash, -1), 1000, 10).ok());
  EXPECT_FALSE(ParseManifest(One("a", kHash, "5"), 1000, 10).ok());
  EXPECT_FALSE(ParseManifest(One("a", 5, 5), 1000, 10).ok());
  EXPECT_FALSE(ParseManifest({{"files", nlohmann::json::array()}, {"message", 5}}, 1000, 10).ok());
}

TEST(Manifest, ErrorsAreOneLineAndNameThePath) {
  auto m = ParseManifest(Files({{"../x", 1}}), 1000, 10);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("../x"), std::string::npos);
  EXPECT_EQ(m.error().message.find('\n'), std::string::npos);
}

TEST(Hosts, NormalizeHost) {
  EXPECT_EQ(*NormalizeHost("Blog.Example.COM"), "blog.example.com");
  EXPECT_EQ(*NormalizeHost("*.example.com"), "*.example.com");
  EXPECT_EQ(*NormalizeHost("localhost"), "localhost");
  EXPECT_EQ(*NormalizeHost("xn--caf-dma.fr"), "xn--caf-dma.fr");
  for (const char* bad : {"", "bad host", "a..b", "-a.com", "a-.com", "*.", "a.*.com", "**.a.com",
                          "a/b", "a:80", "a_b.com", ".a.com", "a.com."}) {
    EXPECT_FALSE(NormalizeHost(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace hearth::sites

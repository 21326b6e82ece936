#include "io/spool.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace hearth {
namespace {

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-spool-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  size_t FilesInDir() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++n;
    return n;
  }
  std::string dir_;
};

TEST_F(SpoolTest, SmallBodiesStayInMemory) {
  Spool s(dir_, 16);
  ASSERT_TRUE(s.Append("hello ").ok());
  ASSERT_TRUE(s.Append("world").ok());
  EXPECT_TRUE(s.in_memory());
  EXPECT_EQ(s.size(), 11u);
  EXPECT_EQ(*s.ReadAll(), "hello world");
  char buf[5];
  ASSERT_TRUE(s.ReadAt(6, buf, 5).ok());
  EXPECT_EQ(std::string(buf, 5), "world");
}

TEST_F(SpoolTest, LargeBodiesSpillToAFileWithNoName) {
  Spool s(dir_, 1000);
  std::string all;
  for (int i = 0; i < 300; ++i) {
    std::string piece(97, static_cast<char>('a' + i % 26));
    all += piece;
    ASSERT_TRUE(s.Append(piece).ok());
  }
  EXPECT_FALSE(s.in_memory());
  EXPECT_EQ(s.size(), all.size());
  EXPECT_EQ(*s.ReadAll(), all);
  std::string mid(500, '\0');
  ASSERT_TRUE(s.ReadAt(950, mid.data(), mid.size()).ok());
  EXPECT_EQ(mid, all.substr(950, 500));
  EXPECT_EQ(FilesInDir(), 0u) << "the spool file has no name to leave behind";
}

TEST_F(SpoolTest, ReadsPastTheEndAreRefused) {
  Spool s(dir_, 4);
  ASSERT_TRUE(s.Append("abcdef").ok());
  char buf[8];
  EXPECT_FALSE(s.ReadAt(4, buf, 3).ok());
  EXPECT_FALSE(s.ReadAt(7, buf, 0).ok());
  EXPECT_TRUE(s.ReadAt(6, buf, 0).ok());
}

TEST_F(SpoolTest, AMissingFolderIsAClearError) {
  Spool s(dir_ + "/nope", 4);
  Status st = s.Append("more than four");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("temporary file"), std::string::npos) << st.error().message;
}

}  // namespace
}  // namespace hearth

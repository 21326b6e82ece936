#include "files/safe_path.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hearth {
namespace {

struct Case {
  const char* path;
  PathError error;
  const char* relative;
};

TEST(DecodeRequestPath, Table) {
  const Case cases[] = {
      {"/", PathError::kNone, ""},
      {"/index.html", PathError::kNone, "index.html"},
      {"/a%20b/c.txt", PathError::kNone, "a b/c.txt"},
      {"/dir/", PathError::kNone, "dir/"},
      {"//a///b", PathError::kNone, "a/b"},
      {"/.well-known/acme-challenge/x", PathError::kNone, ".well-known/acme-challenge/x"},
      {"/caf%C3%A9", PathError::kNone, "caf\xC3\xA9"},
      {"/../secret", PathError::kTraversal, nullptr},
      {"/a/../../secret", PathError::kTraversal, nullptr},
      {"/%2e%2e/secret", PathError::kTraversal, nullptr},
      {"/%2E%2E/secret", PathError::kTraversal, nullptr},
      {"/a/..", PathError::kTraversal, nullptr},
      {"/./a", PathError::kTraversal, nullptr},
      {"/a%2fb", PathError::kBadEncoding, nullptr},
      {"/a%2Fb", PathError::kBadEncoding, nullptr},
      {"/a%5cb", PathError::kBadEncoding, nullptr},
      {"/a\\b", PathError::kBadEncoding, nullptr},
      {"/a%00b", PathError::kBadEncoding, nullptr},
      {"/a\x01b", PathError::kBadEncoding, nullptr},
      {"/a\x7f", PathError::kBadEncoding, nullptr},
      {"/a%", PathError::kBadEncoding, nullptr},
      {"/a%4", PathError::kBadEncoding, nullptr},
      {"/a%zz", PathError::kBadEncoding, nullptr},
      {"relative", PathError::kBadEncoding, nullptr},
      {"/.git/config", PathError::kHidden, nullptr},
      {"/a/.env", PathError::kHidden, nullptr},
      {"/%2egit/config", PathError::kHidden, nullptr},
  };
  for (const auto& c : cases) {
    std::string rel;
    EXPECT_EQ(DecodeRequestPath(c.path, &rel), c.error) << c.path;
    if (c.relative) {
      EXPECT_EQ(rel, c.relative) << c.path;
    }
  }
}

class OpenBeneathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-safe-XXXXXX";
    base_ = mkdtemp(tmpl);
    std::filesystem::create_directories(base_ + "/root/sub");
    std::ofstream(base_ + "/root/sub/in.txt") << "inside";
    std::ofstream(base_ + "/secret.txt") << "secret";
    std::filesystem::create_symlink("../secret.txt", base_ + "/root/out-rel");
    std::filesystem::create_symlink(base_ + "/secret.txt", base_ + "/root/out-abs");
    std::filesystem::create_symlink("sub/in.txt", base_ + "/root/in-rel");
    char real[PATH_MAX];
    ASSERT_NE(realpath((base_ + "/root").c_str(), real), nullptr);
    root_real_ = real;
    std::filesystem::create_symlink(root_real_ + "/sub/in.txt", base_ + "/root/in-abs");
    root_fd_ = open(root_real_.c_str(), O_RDONLY | O_DIRECTORY);
  }
  void TearDown() override {
    close(root_fd_);
    std::filesystem::remove_all(base_);
  }
  int Open(const std::string& rel) {
    int fd = OpenBeneath(root_fd_, root_real_, rel);
    if (fd >= 0) close(fd);
    return fd;
  }
  std::string base_, root_real_;
  int root_fd_ = -1;
};

TEST_F(OpenBeneathTest, OpensFilesInside) {
  EXPECT_GE(Open("sub/in.txt"), 0);
  EXPECT_GE(Open("in-rel"), 0);
  EXPECT_GE(Open("in-abs"), 0);  // absolute, but lands inside the root
}

TEST_F(OpenBeneathTest, RefusesSymlinksLeadingOut) {
  EXPECT_EQ(Open("out-rel"), -EXDEV);
  EXPECT_EQ(Open("out-abs"), -EXDEV);
}

TEST_F(OpenBeneathTest, MissingIsEnoent) {
  EXPECT_EQ(Open("nope"), -ENOENT);
}

}  // namespace
}  // namespace hearth

// The control API's shared answers (api/reply.h): a list endpoint's
// {"items": [...]} from a named statement, and the 405 that names the
// methods an endpoint takes.
#include "api/reply.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace hearth {
namespace {

using nlohmann::json;
using store::Connection;

class ReplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-reply-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto c = Connection::Open(dir_ + "/test.db", Connection::Mode::kReadWrite);
    ASSERT_TRUE(c.ok());
    db_ = std::move(c).value();
    ASSERT_TRUE(db_->Exec("CREATE TABLE pets(name TEXT, legs INTEGER);"
                          "INSERT INTO pets VALUES ('cat', 4), ('bird', 2);")
                    .ok());
    ASSERT_TRUE(db_->PrepareRegistry({
                                         {"pets.list", "SELECT name, legs FROM pets ORDER BY name"},
                                         {"pets.none", "SELECT name, legs FROM pets WHERE 0"},
                                         // Fails when stepped, not when prepared.
                                         {"pets.broken", "SELECT abs(-9223372036854775807 - 1)"},
                                     })
                    .ok());
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  static json Pet(store::Statement& st) {
    return {{"name", std::string(st.Text(0))}, {"legs", st.Int(1)}};
  }

  std::string dir_;
  std::unique_ptr<Connection> db_;
};

TEST_F(ReplyTest, ListItemsAnswersEveryRowAsAnItem) {
  Response res;
  api::ListItems(res, *db_, "pets.list", Pet);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.FindHeader("Content-Type"), "application/json");
  EXPECT_EQ(res.FindHeader("Cache-Control"), "no-store");
  EXPECT_EQ(json::parse(res.text), json::parse(R"({"items": [{"name": "bird", "legs": 2},
                                                             {"name": "cat", "legs": 4}]})"));
}

TEST_F(ReplyTest, ListItemsOfNoRowsIsAnEmptyArrayBesideTheExtraFields) {
  Response res;
  api::ListItems(res, *db_, "pets.none", Pet, {{"https", false}});
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(json::parse(res.text), json::parse(R"({"items": [], "https": false})"));
}

TEST_F(ReplyTest, ListItemsAnswers500WithTheStoresErrorWhenAStepFails) {
  Response res;
  api::ListItems(res, *db_, "pets.broken", Pet);
  EXPECT_EQ(res.status, 500);
  json body = json::parse(res.text);
  ASSERT_TRUE(body.contains("error"));
  EXPECT_NE(body["error"].get<std::string>().find("overflow"), std::string::npos) << res.text;
  EXPECT_FALSE(body.contains("items"));
}

TEST(Reply, NotAllowedNamesTheMethodsInAllowAndInTheError) {
  struct Case {
    std::initializer_list<std::string_view> methods;
    const char* allow;
    const char* error;
  };
  const Case cases[] = {
      {{"DELETE"}, "DELETE", "use DELETE"},
      {{"GET", "POST"}, "GET, POST", "use GET or POST"},
      {{"PATCH", "DELETE"}, "PATCH, DELETE", "use PATCH or DELETE"},
      {{"GET", "PATCH", "DELETE"}, "GET, PATCH, DELETE", "use GET, PATCH or DELETE"},
  };
  for (const Case& c : cases) {
    Response res;
    api::NotAllowed(res, c.methods);
    EXPECT_EQ(res.status, 405) << c.allow;
    EXPECT_EQ(res.FindHeader("Allow"), c.allow);
    EXPECT_EQ(json::parse(res.text), json({{"error", c.error}})) << c.allow;
  }
}

}  // namespace
}  // namespace hearth

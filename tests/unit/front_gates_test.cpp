// The sites' front gates (the ACME challenge, the HTTPS redirect, the rate
// limit) never fail open by being forgotten: an unset gate is named by
// GatesProblem and the server refuses to start with one; the real
// composition sets every gate, with HTTPS and ACME on or off, to the part
// that owns it.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "base/log.h"
#include "server/server.h"
#include "server/settings.h"
#include "server/site_mounts.h"
#include "sites/sites.h"

namespace hearth {
namespace {

TEST(FrontGates, GatesProblemNamesEachUnsetGate) {
  sites::FrontGates all;
  SetNoAcmeGate(&all);
  SetNoHttpsGate(&all);
  all.rate_limit = [](const Request&, Response&, const std::string&, int64_t, int64_t) {
    return true;
  };
  EXPECT_EQ(sites::GatesProblem(all), "");
  EXPECT_NE(sites::GatesProblem(sites::FrontGates{}), "");
  sites::FrontGates g = all;
  g.acme_answer = nullptr;
  EXPECT_NE(sites::GatesProblem(g).find("ACME challenge"), std::string::npos);
  g = all;
  g.has_certificate = nullptr;
  EXPECT_NE(sites::GatesProblem(g).find("HTTPS redirect"), std::string::npos);
  g = all;
  g.rate_limit = nullptr;
  EXPECT_NE(sites::GatesProblem(g).find("rate limit"), std::string::npos);
}

// The site handler cannot be made with a gate unset, whatever composes it
// (Make is its only constructor), and is made once every gate is set.
TEST(FrontGates, ASiteHandlerIsNotMadeWithAGateUnset) {
  sites::SitesShared shared;
  auto none = sites::SiteHandler::Make(&shared, 0, nullptr);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("front gate"), std::string::npos) << none.error().message;
  SetNoAcmeGate(&shared.gates);
  SetNoHttpsGate(&shared.gates);
  EXPECT_FALSE(sites::SiteHandler::Make(&shared, 0, nullptr).ok()) << "the rate limit is unset";
  shared.gates.rate_limit = [](const Request&, Response&, const std::string&, int64_t, int64_t) {
    return true;
  };
  EXPECT_TRUE(sites::SiteHandler::Make(&shared, 0, nullptr).ok());
}

// A service that runs before the workers and leaves the rate limit unset, as
// a composition that forgot it would.
class ForgetsTheRateLimit : public Service {
 public:
  explicit ForgetsTheRateLimit(Parts* p) : p_(p) {}
  std::string_view name() const override { return "forgetful"; }
  Status Start() override {
    p_->sites.gates.rate_limit = nullptr;
    return OkStatus();
  }
  void Stop() override {}

 private:
  Parts* p_;
};

class FrontGatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kError);
    char tmpl[] = "/tmp/hearth-gates-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts the real server with `flags`; `parts` is its composition.
  Result<std::unique_ptr<Server>> Start(std::map<std::string, std::string> flags, Parts** parts,
                                        bool forget = false) {
    flags.emplace("data", dir_ + "/data");
    flags.emplace("http", "127.0.0.1:0");
    flags.emplace("workers", "1");
    char* env[] = {nullptr};
    auto settings = LoadSettings("", env, flags);
    if (!settings.ok()) return settings.error();
    ServeOptions o;
    o.settings = std::move(settings).value();
    o.add_services = [parts, forget](Parts* p, Services* list) {
      *parts = p;
      if (forget) list->Add(std::make_unique<ForgetsTheRateLimit>(p));
    };
    return Server::Start(std::move(o));
  }

  std::string dir_;
};

// The rate limit is the guard's: a site limited to one request (burst one)
// gets 429 on the second from the same address.
void ExpectGuardsRateLimit(const sites::FrontGates& g) {
  Request req;
  req.peer_ip = "192.0.2.7";
  Response first, second;
  EXPECT_TRUE(g.rate_limit(req, first, "blog.localhost", 1, 1));
  EXPECT_FALSE(g.rate_limit(req, second, "blog.localhost", 1, 1));
  EXPECT_EQ(second.status, 429);
}

TEST_F(FrontGatesTest, PlainHttpSetsEveryGateWithHttpsAndAcmeOff) {
  Parts* parts = nullptr;
  auto started = Start({}, &parts);
  ASSERT_TRUE(started.ok()) << started.error().message;
  const sites::FrontGates& g = parts->sites.gates;
  EXPECT_EQ(sites::GatesProblem(g), "");
  EXPECT_EQ(g.acme_answer("anything"), std::nullopt);
  EXPECT_FALSE(g.has_certificate("blog.localhost"));
  EXPECT_EQ(g.https_port, 0);
  ExpectGuardsRateLimit(g);
  (*started)->Stop();
}

TEST_F(FrontGatesTest, HttpsAndAcmeSetTheirOwnGates) {
  Parts* parts = nullptr;
  auto started = Start({{"https", "127.0.0.1:0"},
                        {"acme-email", "a@example.com"},
                        {"acme-directory", "https://127.0.0.1:1/dir"}},
                       &parts);
  ASSERT_TRUE(started.ok()) << started.error().message;
  const sites::FrontGates& g = parts->sites.gates;
  EXPECT_EQ(sites::GatesProblem(g), "");
  // The challenge answers come from the ACME part's store of them.
  EXPECT_EQ(g.acme_answer("tok"), std::nullopt);
  parts->acme_challenges.Put("tok", "tok.thumbprint");
  EXPECT_EQ(g.acme_answer("tok"), std::optional<std::string>("tok.thumbprint"));
  // The redirect goes to the bound HTTPS port, for hosts the TLS part covers.
  EXPECT_NE(g.https_port, 0);
  EXPECT_EQ(g.https_port, parts->https_port);
  EXPECT_FALSE(g.has_certificate("blog.localhost")) << "no certificate installed";
  ExpectGuardsRateLimit(g);
  (*started)->Stop();
}

TEST_F(FrontGatesTest, AStartWithAGateUnsetFails) {
  Parts* parts = nullptr;
  auto started = Start({}, &parts, /*forget=*/true);
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("front gate for the rate limit is unset"),
            std::string::npos)
      << started.error().message;
}

}  // namespace
}  // namespace hearth

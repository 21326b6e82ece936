// The admin console's pieces that need no browser: escaping, cookies,
// sessions in hearth.db, the embedded assets.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "admin/assets.h"
#include "admin/html.h"
#include "admin/session.h"
#include "store/control_schema.h"
#include "store/store.h"

namespace hearth::admin {
namespace {

TEST(AdminHtml, EscapeLeavesNoMarkupAndNoWayOutOfAnAttribute) {
  EXPECT_EQ(Escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
  EXPECT_EQ(Escape("plain"), "plain");
  EXPECT_EQ(UrlEncode("blog.localhost"), "blog.localhost");
  EXPECT_EQ(UrlEncode("/a b?c=d&e"), "%2Fa%20b%3Fc%3Dd%26e");
}

TEST(AdminHtml, PagesCarryTheirTitleEscapedAndNavigationOnlyWithASession) {
  std::string login = RenderPage(Page("<Log in>"), "<p>x</p>");
  EXPECT_NE(login.find("<title>&lt;Log in&gt; · hearth</title>"), std::string::npos);
  EXPECT_EQ(login.find("<nav"), std::string::npos);
  EXPECT_NE(login.find("href=\"/_hearth/ui/app.css?v="), std::string::npos);
  std::string page = RenderPage(Page("Sites", "sites", "tok\"en", "done <ok>"), "<p>x</p>");
  EXPECT_NE(page.find("aria-current=\"page\">Sites"), std::string::npos);
  EXPECT_NE(page.find("value=\"tok&quot;en\""), std::string::npos);  // the logout form's CSRF token
  EXPECT_NE(page.find("role=\"status\">done &lt;ok&gt;</p>"), std::string::npos);
  EXPECT_NE(page.find("<a class=\"skip\" href=\"#main\">"), std::string::npos);
}

TEST(AdminSession, CookieValueFindsTheNamedCookieOnly) {
  EXPECT_EQ(CookieValue("a=1; hearth_admin=abc; b=2", "hearth_admin"), "abc");
  EXPECT_EQ(CookieValue("hearth_admin=\"q\"", "hearth_admin"), "q");
  EXPECT_EQ(CookieValue("xhearth_admin=abc", "hearth_admin"), "");
  EXPECT_EQ(CookieValue("hearth_admin", "hearth_admin"), "");
  EXPECT_EQ(CookieValue("", "hearth_admin"), "");
  EXPECT_EQ(CookieValue(";;; =; hearth_admin = v ;", "hearth_admin"), "v");
}

TEST(AdminSession, CookieIsHttpOnlyStrictAndSecureOverHttps) {
  std::string c = SessionCookie("sec", true);
  EXPECT_NE(c.find("hearth_admin=sec;"), std::string::npos);
  EXPECT_NE(c.find("HttpOnly"), std::string::npos);
  EXPECT_NE(c.find("SameSite=Strict"), std::string::npos);
  EXPECT_NE(c.find("Path=/_hearth/"), std::string::npos);
  EXPECT_NE(c.find("; Secure"), std::string::npos);
  EXPECT_EQ(SessionCookie("sec", false).find("Secure"), std::string::npos);
  EXPECT_NE(SessionCookie("", false).find("Max-Age=0"), std::string::npos);  // clears it
  EXPECT_TRUE(SameSecret("abc", "abc"));
  EXPECT_FALSE(SameSecret("abc", "abd"));
  EXPECT_FALSE(SameSecret("abc", "ab"));
  EXPECT_FALSE(SameSecret("", "x"));
}

TEST(AdminSession, SessionsLiveInTheDatabaseAsHashesAndExpire) {
  char tmpl[] = "/tmp/hearth-admin-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    store::Store::Options o;
    o.path = dir + "/hearth.db";
    o.readers = 1;
    o.migrations = store::ControlMigrations();
    o.statements = store::ControlStatements();
    o.connection_setup = store::ControlConnectionSetup();
    auto s = store::Store::Open(std::move(o));
    ASSERT_TRUE(s.ok()) << s.error().message;
    int64_t now = static_cast<int64_t>(time(nullptr));
    NewSession fresh = MakeSession(now);
    EXPECT_NE(fresh.row.hash, fresh.secret);
    EXPECT_EQ(fresh.row.expires_at, now + kSessionSeconds);
    ASSERT_TRUE((*s)->Write([&](store::Connection& c) { return StoreSession(c, fresh.row, now); }).ok());
    auto& rd = (*s)->Reader(0);
    auto found = FindSession(rd, "other=1; hearth_admin=" + fresh.secret);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->csrf, fresh.row.csrf);
    EXPECT_FALSE(FindSession(rd, "hearth_admin=" + fresh.row.hash).has_value());  // the stored hash is no cookie
    EXPECT_FALSE(FindSession(rd, "hearth_admin=nope").has_value());
    // An expired one is not found, and the next login sweeps it away.
    NewSession old = MakeSession(now - 2 * kSessionSeconds);
    ASSERT_TRUE((*s)->Write([&](store::Connection& c) { return StoreSession(c, old.row, now - 2 * kSessionSeconds); }).ok());
    EXPECT_FALSE(FindSession(rd, "hearth_admin=" + old.secret).has_value());
    ASSERT_TRUE((*s)->Write([&](store::Connection& c) { return StoreSession(c, MakeSession(now).row, now); }).ok());
    {
      auto n = rd.Prepare("SELECT count(*) FROM admin_sessions");
      Status st = OkStatus();
      ASSERT_TRUE(n.ok() && n->Step(&st));
      EXPECT_EQ(n->Int(0), 2);
    }  // (its read ends here: a statement left open would keep the old snapshot)
    // Logout deletes it.
    ASSERT_TRUE((*s)->Write([&](store::Connection& c) { return DeleteSession(c, fresh.row.hash); }).ok());
    EXPECT_FALSE(FindSession(rd, "hearth_admin=" + fresh.secret).has_value());
  }
  std::filesystem::remove_all(dir);
}

TEST(AdminAssets, TheStylesheetIsEmbeddedWithAStableFingerprint) {
  const Asset* css = FindAsset("app.css");
  ASSERT_NE(css, nullptr);
  EXPECT_NE(css->data.find(":focus-visible"), std::string_view::npos);
  EXPECT_EQ(AssetVersion(*css).size(), 16u);
  EXPECT_EQ(AssetVersion(*css), AssetVersion(*css));
  EXPECT_EQ(FindAsset("missing.js"), nullptr);
}

}  // namespace
}  // namespace hearth::admin

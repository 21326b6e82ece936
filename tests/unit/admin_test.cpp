// The admin console's pieces that need no browser: escaping, cookies,
// sessions in hearth.db, the embedded assets.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "admin/assets.h"
#include "admin/common.h"
#include "admin/forms.h"
#include "admin/html.h"
#include "admin/login.h"
#include "admin/loopback.h"
#include "admin/ops_pages.h"
#include "admin/session.h"
#include "admin/upload.h"
#include "api/tokens.h"
#include "control/admins_api.h"
#include "io/spool.h"
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

TEST(AdminOverview, TheBackupRegionSaysOffOrShowsTheFiguresEscapedWithOneLineOfError) {
  std::string off = BackupRegion(std::nullopt);
  EXPECT_NE(off.find("data-region=\"backup\""), std::string::npos);
  EXPECT_NE(off.find("Off: no streaming backup"), std::string::npos);
  EXPECT_EQ(off.find("<table"), std::string::npos);

  BackupFacts f;
  f.target = "s3://bucket/<p>";
  f.state = "behind";
  f.generation = "20261207T100000Z-00000000000000ab";
  f.uploaded_index = 42;
  f.uploaded_time_us = int64_t{1796637600} * 1000000;  // 2026-12-07 10:00 UTC
  f.lag_entries = 7;
  f.lag_seconds = 12.34;
  f.last_error = "PUT b/k: SignatureDoesNotMatch (403)\n<Error><StringToSign>...";
  std::string on = BackupRegion(f);
  auto cell = [&on](const std::string& name) {
    size_t at = on.find("data-backup=\"" + name + "\">");
    if (at == std::string::npos) return std::string("(missing)");
    at = on.find('>', at) + 1;
    return on.substr(at, on.find("</td>", at) - at);
  };
  EXPECT_EQ(cell("State"), "behind");
  EXPECT_EQ(cell("Target"), "s3://bucket/&lt;p&gt;");
  EXPECT_EQ(cell("Generation"), "20261207T100000Z-00000000000000ab");
  EXPECT_EQ(cell("Uploaded"), "entry 42, committed 2026-12-07 10:00 UTC");
  EXPECT_EQ(cell("Lag"), "7 entries, 12.3 s");
  EXPECT_EQ(cell("Last snapshot"), "never");
  EXPECT_EQ(cell("Last error"), "PUT b/k: SignatureDoesNotMatch (403)");

  f.last_error = std::string(291, 'x') + "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
  std::string cut = BackupRegion(f);
  // Shortened at a character's edge, never inside one.
  EXPECT_NE(cut.find(std::string(291, 'x') + "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9…<"),
            std::string::npos);
  f.last_error.clear();
  EXPECT_NE(BackupRegion(f).find("data-backup=\"Last error\">none<"), std::string::npos);
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
  // Over HTTPS: the __Host- prefix, so Secure, Path=/ and no Domain.
  std::string c = SessionCookie("sec", true);
  EXPECT_EQ(c.rfind("__Host-hearth_admin=sec;", 0), 0u) << c;
  EXPECT_NE(c.find("HttpOnly"), std::string::npos);
  EXPECT_NE(c.find("SameSite=Strict"), std::string::npos);
  EXPECT_NE(c.find("; Path=/;"), std::string::npos);
  EXPECT_EQ(c.find("Domain"), std::string::npos);
  EXPECT_NE(c.find("; Secure"), std::string::npos);
  // Over plain HTTP: today's name and path, never Secure.
  std::string plain = SessionCookie("sec", false);
  EXPECT_EQ(plain.rfind("hearth_admin=sec;", 0), 0u) << plain;
  EXPECT_NE(plain.find("Path=/_hearth/"), std::string::npos);
  EXPECT_EQ(plain.find("Secure"), std::string::npos);
  EXPECT_NE(SessionCookie("sec", false, 90).find("Max-Age=90"), std::string::npos);
  EXPECT_EQ(SessionCookie("", true).rfind("__Host-hearth_admin=;", 0),
            0u);  // logout clears the right one
  EXPECT_NE(SessionCookie("", false).find("Max-Age=0"), std::string::npos);  // clears it
  EXPECT_TRUE(SameSecret("abc", "abc"));
  EXPECT_FALSE(SameSecret("abc", "abd"));
  EXPECT_FALSE(SameSecret("abc", "ab"));
  EXPECT_FALSE(SameSecret("", "x"));
}

// hearth.db's schema and statements, in `dir`.
Result<std::unique_ptr<store::Store>> OpenControlStore(const std::string& dir) {
  store::Store::Options o;
  o.path = dir + "/hearth.db";
  o.readers = 1;
  o.migrations = store::ControlMigrations();
  o.statements = store::ControlStatements();
  o.connection_setup = store::ControlConnectionSetup();
  return store::Store::Open(std::move(o));
}

// Stores a token with `scope` and `expires_at` (0: never); returns its id.
std::string AddToken(store::Store& s, std::string_view scope = "admin", int64_t expires_at = 0) {
  api::TokenRecord t = api::MakeToken();
  auto parsed = api::ParseScope(scope);
  EXPECT_TRUE(parsed.ok());
  EXPECT_TRUE(s.Write([&](store::Connection& c) {
                 return api::InsertToken(c, t, "t", *parsed, expires_at);
               }).ok());
  return t.id;
}

// A session made with a fresh admin token.
NewSession TokenSession(store::Store& s, int64_t now) {
  NewSession n = MakeSession(now);
  n.row.token_id = AddToken(s);
  return n;
}

TEST(AdminSession, SessionsLiveInTheDatabaseAsHashesAndExpire) {
  char tmpl[] = "/tmp/hearth-admin-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    auto s = OpenControlStore(dir);
    ASSERT_TRUE(s.ok()) << s.error().message;
    int64_t now = static_cast<int64_t>(time(nullptr));
    NewSession fresh = TokenSession(**s, now);
    EXPECT_NE(fresh.row.hash, fresh.secret);
    EXPECT_EQ(fresh.row.expires_at, now + kSessionSeconds);
    ASSERT_TRUE(
        (*s)->Write([&](store::Connection& c) { return StoreSession(c, fresh.row, now); }).ok());
    auto& rd = (*s)->Reader(0);
    auto found = FindSession(rd, "other=1; hearth_admin=" + fresh.secret);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->csrf, fresh.row.csrf);
    EXPECT_FALSE(FindSession(rd, "hearth_admin=" + fresh.row.hash)
                     .has_value());  // the stored hash is no cookie
    EXPECT_FALSE(FindSession(rd, "hearth_admin=nope").has_value());
    // An expired one is not found, and the next login sweeps it away.
    NewSession old = TokenSession(**s, now - 2 * kSessionSeconds);
    ASSERT_TRUE((*s)->Write([&](store::Connection& c) {
                      return StoreSession(c, old.row, now - 2 * kSessionSeconds);
                    })
                    .ok());
    EXPECT_FALSE(FindSession(rd, "hearth_admin=" + old.secret).has_value());
    NewSession another = TokenSession(**s, now);  // (made outside the write: it writes its token)
    ASSERT_TRUE(
        (*s)->Write([&](store::Connection& c) { return StoreSession(c, another.row, now); }).ok());
    {
      auto n = rd.Prepare("SELECT count(*) FROM admin_sessions");
      Status st = OkStatus();
      ASSERT_TRUE(n.ok() && n->Step(&st));
      EXPECT_EQ(n->Int(0), 2);
    }  // (its read ends here: a statement left open would keep the old snapshot)
    // Logout deletes it.
    ASSERT_TRUE(
        (*s)->Write([&](store::Connection& c) { return DeleteSession(c, fresh.row.hash); }).ok());
    EXPECT_FALSE(FindSession(rd, "hearth_admin=" + fresh.secret).has_value());
  }
  std::filesystem::remove_all(dir);
}

TEST(AdminSession, AUsersSessionNamesTheUserAndEndsWithTheUser) {
  char tmpl[] = "/tmp/hearth-admin-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    auto s = OpenControlStore(dir);
    ASSERT_TRUE(s.ok()) << s.error().message;
    int64_t now = static_cast<int64_t>(time(nullptr));
    int64_t uid = 0;
    ASSERT_TRUE((*s)->Write([&](store::Connection& c) {
                      if (Status st = c.Named("admins.insert")
                                          .Bind(1, std::string_view("Ann@Example.com"))
                                          .Bind(2, std::string_view("$argon2id$x"))
                                          .Run();
                          !st.ok())
                        return st;
                      uid = sqlite3_last_insert_rowid(c.raw());
                      return OkStatus();
                    })
                    .ok());
    NewSession user = MakeSession(now);
    user.row.user_id = uid;
    NewSession token = TokenSession(**s, now);
    ASSERT_TRUE((*s)->Write([&](store::Connection& c) {
                      return StoreSession(c, user.row, now, "$argon2id$x");
                    })
                    .ok());
    ASSERT_TRUE(
        (*s)->Write([&](store::Connection& c) { return StoreSession(c, token.row, now); }).ok());
    auto& rd = (*s)->Reader(0);
    auto found = FindSession(rd, "hearth_admin=" + user.secret);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->user, "Ann@Example.com");
    EXPECT_EQ(found->user_id, uid);
    auto by_token = FindSession(rd, "hearth_admin=" + token.secret);
    ASSERT_TRUE(by_token.has_value());
    EXPECT_EQ(by_token->user, "");
    {
      auto st = rd.Named("admins.one");
      st.Bind(1, std::string_view("ann@example.COM"));  // emails compare without case
      Status x = OkStatus();
      ASSERT_TRUE(st.Step(&x));
      EXPECT_FALSE(st.Text(3).empty());  // the login was recorded
    }
    // A session of a user that is gone is no session, even with its row left.
    ASSERT_TRUE(
        (*s)->Write([&](store::Connection& c) {
              return c.Named("admins.delete").Bind(1, std::string_view("ann@example.com")).Run();
            })
            .ok());
    EXPECT_FALSE(FindSession(rd, "hearth_admin=" + user.secret).has_value());
    EXPECT_FALSE(SessionLive(rd, user.row.hash));
    EXPECT_TRUE(FindSession(rd, "hearth_admin=" + token.secret).has_value());
    // A login checked against a password that has changed since makes no session.
    ASSERT_TRUE((*s)->Write([&](store::Connection& c) {
                      return c.Named("admins.insert")
                          .Bind(1, std::string_view("bob@example.com"))
                          .Bind(2, std::string_view("$argon2id$new"))
                          .Run();
                    })
                    .ok());
    int64_t bob = 0;
    {
      auto st = rd.Named("admins.by_email");
      st.Bind(1, std::string_view("bob@example.com"));
      Status x = OkStatus();
      ASSERT_TRUE(st.Step(&x));
      bob = st.Int(0);
      EXPECT_GT(bob, uid);  // ids are never reused
    }
    NewSession late = MakeSession(now);
    late.row.user_id = bob;
    Status stale = (*s)->Write(
        [&](store::Connection& c) { return StoreSession(c, late.row, now, "$argon2id$old"); });
    ASSERT_FALSE(stale.ok());
    EXPECT_EQ(stale.error().message, kStaleLogin);
    EXPECT_FALSE(FindSession(rd, "hearth_admin=" + late.secret).has_value());
    EXPECT_TRUE((*s)->Write([&](store::Connection& c) {
                      return StoreSession(c, late.row, now, "$argon2id$new");
                    })
                    .ok());
    EXPECT_TRUE(FindSession(rd, "hearth_admin=" + late.secret).has_value());
  }
  std::filesystem::remove_all(dir);
}

TEST(AdminSession, ATokensSessionEndsWithItsTokenAndNeedsAnAdminOne) {
  char tmpl[] = "/tmp/hearth-admin-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    auto s = OpenControlStore(dir);
    ASSERT_TRUE(s.ok()) << s.error().message;
    auto& rd = (*s)->Reader(0);
    int64_t now = static_cast<int64_t>(time(nullptr));
    NewSession a = TokenSession(**s, now);
    ASSERT_TRUE(
        (*s)->Write([&](store::Connection& c) { return StoreSession(c, a.row, now); }).ok());
    // Over HTTPS the cookie has the __Host- name; the plain name is not looked at there.
    EXPECT_TRUE(FindSession(rd, "hearth_admin=" + a.secret, false).has_value());
    EXPECT_FALSE(FindSession(rd, "hearth_admin=" + a.secret, true).has_value());
    EXPECT_TRUE(FindSession(rd, "__Host-hearth_admin=" + a.secret, true).has_value());
    EXPECT_FALSE(FindSession(rd, "__Host-hearth_admin=" + a.secret, false).has_value());
    // Revoking the token ends the session, even with its row left behind.
    ASSERT_TRUE((*s)->Write([&](store::Connection& c) {
                      return c.Named("tokens.delete").Bind(1, a.row.token_id).Run();
                    })
                    .ok());
    EXPECT_FALSE(FindSession(rd, "hearth_admin=" + a.secret).has_value());
    EXPECT_FALSE(SessionLive(rd, a.row.hash));
    // A token revoked (or never an admin one) while logging in makes no session.
    Status gone = (*s)->Write([&](store::Connection& c) { return StoreSession(c, a.row, now); });
    EXPECT_FALSE(gone.ok());
    NewSession r = MakeSession(now);
    r.row.token_id = AddToken(**s, "read");
    EXPECT_FALSE(
        (*s)->Write([&](store::Connection& c) { return StoreSession(c, r.row, now); }).ok());
    NewSession none = MakeSession(now);  // neither a user nor a token
    EXPECT_FALSE(
        (*s)->Write([&](store::Connection& c) { return StoreSession(c, none.row, now); }).ok());
    // A token that has expired ends its session.
    NewSession e = MakeSession(now);
    e.row.token_id = AddToken(**s, "admin", now + 2);
    ASSERT_TRUE(
        (*s)->Write([&](store::Connection& c) { return StoreSession(c, e.row, now); }).ok());
    EXPECT_TRUE(FindSession(rd, "hearth_admin=" + e.secret).has_value());
    ASSERT_TRUE((*s)->Write([&](store::Connection& c) {
                      auto st =
                          c.Prepare("UPDATE tokens SET expires_at = unixepoch() - 1 WHERE id = ?1");
                      if (!st.ok()) return Status(st.error());
                      return st->Bind(1, e.row.token_id).Run();
                    })
                    .ok());
    EXPECT_FALSE(FindSession(rd, "hearth_admin=" + e.secret).has_value());
  }
  std::filesystem::remove_all(dir);
}

// A body sink that counts what it is fed; a reply the test finishes.
struct CountingSink : BodySink {
  size_t got = 0, refuse_after = SIZE_MAX;
  int ends = 0;
  bool ok = false;
  std::shared_ptr<Reply> reply;
  size_t OnData(std::string_view b) override {
    got += b.size();
    if (got >= refuse_after && reply)
      std::exchange(reply, nullptr)->Finish([](Response& r) {
        r.SetText(413, "application/json", "{}");
      });
    return b.size();
  }
  void OnEnd(bool k) override {
    ++ends;
    ok = k;
  }
};

TEST(AdminLoopback, ASpooledBodyIsFedABudgetAtATimeAndNotPastARefusal) {
  auto spool = std::make_shared<Spool>("/tmp", 4096);
  std::string mib(1 << 20, 'x');
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(spool->Append(mib).ok());
  for (bool refuse : {false, true}) {
    auto sink = std::make_shared<CountingSink>();
    if (refuse) sink->refuse_after = (3 << 20) / 2;
    Handler api = [sink](Request& req, Response& res) {
      EXPECT_TRUE(req.body_pending);
      EXPECT_EQ(req.content_length, 3u << 20);
      sink->reply = res.Defer();
      req.body_sink = sink;
    };
    int status = 0;
    auto call = CallApiSpooled(api, Method::kPut, "/x", spool, 0, 3 << 20,
                               [&](int st, nlohmann::json) { status = st; });
    EXPECT_FALSE(call->Feed(1 << 20));
    if (!refuse) {
      EXPECT_FALSE(call->Feed(1 << 20));
      EXPECT_TRUE(call->Feed(1 << 20));
      EXPECT_EQ(sink->got, 3u << 20);
      EXPECT_TRUE(sink->ok);
      std::exchange(sink->reply, nullptr)->Finish([](Response& r) {
        r.SetText(201, "application/json", "{}");
      });
      EXPECT_EQ(status, 201);
    } else {
      EXPECT_TRUE(call->Feed(1 << 20));  // answered part way: done, the rest unread
      EXPECT_LT(sink->got, 2u << 20);
      EXPECT_FALSE(sink->ok);
      EXPECT_EQ(status, 413);
    }
    EXPECT_EQ(sink->ends, 1);
    EXPECT_TRUE(call->Feed(1 << 20));  // nothing more
    EXPECT_EQ(sink->ends, 1);
  }
}

TEST(AdminLogin, AnAttemptNeverMadeIsUndoneOnlyOnce) {
  LoginThrottle t(LoginThrottle::Limits{3, 5, 60, 100});
  EXPECT_EQ(t.Try("c", "ann@example.com", 0), 0);
  EXPECT_EQ(t.Try("c", "ann@example.com", 0), 0);
  EXPECT_EQ(t.Try("c", "ann@example.com", 0), 0);
  t.Undo("c", "ann@example.com", 0);               // the third was never checked
  EXPECT_EQ(t.Try("c", "ann@example.com", 0), 0);  // so one more may go
  EXPECT_GT(t.Try("c", "ann@example.com", 0), 0);  // but the first two still count
}

TEST(AdminLogin, FailuresAreThrottledPerClientAndPerAccount) {
  LoginThrottle t(LoginThrottle::Limits{3, 5, 60, 100});
  int64_t now = 1000;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(t.Try("10.0.0.1", "ann@example.com", now), 0) << i;
  EXPECT_EQ(t.Try("10.0.0.1", "ann@example.com", now), 60);  // full: one drains in a minute
  EXPECT_EQ(t.Try("10.0.0.1", "", now), 60);                 // the token form too
  EXPECT_EQ(t.Try("10.0.0.1", "", now + 30), 30);
  EXPECT_EQ(t.Try("10.0.0.1", "", now + 60), 0);  // one try again
  EXPECT_EQ(t.Try("10.0.0.1", "", now + 60), 60);
  // Another network may still try the account, until the account is full.
  EXPECT_EQ(t.Try("10.0.0.2", "ANN@example.com", now), 0);
  EXPECT_EQ(t.Try("10.0.0.3", "ann@example.com", now), 0);
  EXPECT_EQ(t.Try("10.0.0.4", "ann@example.com", now), 60);
  EXPECT_EQ(t.Try("10.0.0.4", "bob@example.com", now), 0);
  // A success takes back its own try only: the client's earlier failures stay
  // (a success between guesses must not reset the count).
  t.Succeeded("10.0.0.1", "", now + 60);
  EXPECT_EQ(t.Try("10.0.0.1", "", now + 60), 0);
  EXPECT_EQ(t.Try("10.0.0.1", "", now + 60), 60);
  EXPECT_EQ(t.Try("10.0.0.5", "ann@example.com", now + 61), 0);  // the account drained one
  // A success takes the account's try back: bob can fail 5 more times, not 4.
  LoginThrottle u(LoginThrottle::Limits{100, 5, 60, 100});
  for (int i = 0; i < 5; ++i) ASSERT_EQ(u.Try("c" + std::to_string(i), "bob@example.com", 0), 0);
  EXPECT_GT(u.Try("c9", "bob@example.com", 0), 0);
  u.Succeeded("c4", "bob@example.com", 0);
  EXPECT_EQ(u.Try("c9", "bob@example.com", 0), 0);
  EXPECT_GT(u.Try("c9", "bob@example.com", 0), 0);
}

TEST(AdminLogin, TheThrottleForgetsTheEmptiestBucketsWhenFull) {
  LoginThrottle t(LoginThrottle::Limits{2, 100, 60, 4});
  EXPECT_EQ(t.Try("a", "", 0), 0);
  EXPECT_EQ(t.Try("a", "", 0), 0);  // a: full
  for (int i = 0; i < 10; ++i) EXPECT_EQ(t.Try("flood" + std::to_string(i), "", 0), 0);
  EXPECT_GT(t.Try("a", "", 0), 0);  // the fullest bucket was kept
}

TEST(AdminLogin, ClientsCountByAddressOrIpv6Slash64) {
  EXPECT_EQ(ClientNetwork("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(ClientNetwork("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientNetwork("2001:db8:1:2::1"), ClientNetwork("2001:db8:1:2:ffff::9"));
  EXPECT_NE(ClientNetwork("2001:db8:1:2::1"), ClientNetwork("2001:db8:1:3::1"));
  EXPECT_EQ(ClientNetwork("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(ClientNetwork("not an address"), "not an address");
}

TEST(AdminLogin, OnlyConsolePagesAreWhereLoginLeads) {
  EXPECT_EQ(SafeNext("/_hearth/sites/x?y=1"), "/_hearth/sites/x?y=1");
  EXPECT_EQ(SafeNext("https://evil.example/"), "/_hearth/");
  EXPECT_EQ(SafeNext("/_hearth//evil.example"), "/_hearth/");
  EXPECT_EQ(SafeNext("/_hearth/\\evil"), "/_hearth/");
  EXPECT_EQ(SafeNext("/_hearth/a b"), "/_hearth/");
  // The prefix holds for the path the browser will ask for: dot segments and
  // encoded separators are not let through.
  EXPECT_EQ(SafeNext("/_hearth/../evil"), "/_hearth/");
  EXPECT_EQ(SafeNext("/_hearth/%2e%2e/x"), "/_hearth/");
  EXPECT_EQ(SafeNext("/_hearth/%2f%2fevil.example"), "/_hearth/");
  EXPECT_EQ(SafeNext("/_hearth/sites?x=/../y"), "/_hearth/sites?x=/../y");
  EXPECT_EQ(SafeNext(""), "/_hearth/");
}

TEST(AdminLogin, AdminPasswordsAndEmailsAreChecked) {
  EXPECT_NE(control::AdminPasswordProblem("short"), "");
  EXPECT_NE(control::AdminPasswordProblem("ééééééééé"), "");  // 9 characters, 18 bytes
  EXPECT_EQ(control::AdminPasswordProblem("éééééééééé"), "");
  EXPECT_NE(control::AdminPasswordProblem(std::string(257, 'x')), "");
  EXPECT_EQ(control::AdminEmailProblem("ann@example.com"), "");
  EXPECT_NE(control::AdminEmailProblem("ann"), "");
  EXPECT_NE(control::AdminEmailProblem(""), "");
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

namespace hearth::admin {
namespace {

using nlohmann::json;

// A collection as GET .../collections/{name} answers it: fields and schema.
json Posts() {
  return json::parse(R"({
    "name": "posts", "type": "base",
    "fields": [
      {"name": "id", "type": "text", "system": true},
      {"name": "title", "type": "text", "required": true, "system": false, "max": 100},
      {"name": "views", "type": "number", "system": false, "onlyInt": true, "min": 0},
      {"name": "done", "type": "bool", "system": false},
      {"name": "tags", "type": "select", "system": false, "values": ["news", "tech"], "maxSelect": 2},
      {"name": "kind", "type": "select", "system": false, "values": ["a", "b"], "maxSelect": 1},
      {"name": "meta", "type": "json", "system": false},
      {"name": "created", "type": "autodate", "system": true}],
    "schema": {"required": ["title"], "x-schema-version": 7, "properties": {
      "title": {"type": "string", "maxLength": 100, "x-type": "text"},
      "views": {"type": "integer", "minimum": 0, "x-type": "number"},
      "done": {"type": "boolean", "x-type": "bool"},
      "tags": {"type": "array", "items": {"type": "string", "enum": ["news", "tech"]}, "maxItems": 2, "x-type": "select"},
      "kind": {"type": "string", "enum": ["a", "b"], "x-type": "select"},
      "meta": {"x-type": "json"}}}})");
}

TEST(AdminForms, EveryFieldGetsALabelledInputShapedByItsSchema) {
  std::string h =
      RecordForm(Posts(), json{{"title", "<b>hi</b>"}, {"tags", {"tech"}}, {"done", true}},
                 json{{"views", {{"message", "Must be 0 or more."}}}}, "/x", "tok", "Save", false);
  EXPECT_NE(h.find("<label for=\"f-title\">title <span class=\"muted\">(required)</span></label>"),
            std::string::npos);
  EXPECT_NE(h.find("value=\"&lt;b&gt;hi&lt;/b&gt;\" maxlength=\"100\" required"),
            std::string::npos);
  EXPECT_NE(h.find("type=\"number\" id=\"f-views\""), std::string::npos);
  EXPECT_NE(h.find("step=\"1\" min=\"0\""), std::string::npos);
  EXPECT_NE(h.find("aria-invalid=\"true\""), std::string::npos);
  EXPECT_NE(h.find("id=\"f-views-error\">Must be 0 or more.</p>"), std::string::npos);
  EXPECT_NE(h.find("type=\"checkbox\" id=\"f-done\" name=\"f.done\" value=\"true\" checked"),
            std::string::npos);
  EXPECT_NE(h.find("<legend>tags</legend>"), std::string::npos);  // a list: a group of checkboxes
  EXPECT_NE(h.find("name=\"f.tags\" value=\"tech\" checked"), std::string::npos);
  EXPECT_NE(h.find("<select id=\"f-kind\""), std::string::npos);  // one choice: a select
  EXPECT_NE(h.find("<textarea rows=\"4\" id=\"f-meta\""), std::string::npos);
  EXPECT_NE(h.find("name=\"_schema\" value=\"7\""), std::string::npos);
  EXPECT_EQ(h.find("f-created"), std::string::npos);  // system fields are not edited
  EXPECT_EQ(h.find("f-id"), std::string::npos);
}

TEST(AdminForms, APostedFormBecomesTheApisJson) {
  Form form = {
      {"csrf", "x"},      {"f.title", "Hello"}, {"f.views", " 12 "},       {"f.tags", "news"},
      {"f.tags", "tech"}, {"f.kind", "a"},      {"f.meta", "{\"k\": [1]}"}};
  json errors = json::object();
  json body = FormToRecord(Posts(), form, true, &errors);
  EXPECT_TRUE(errors.empty()) << errors.dump();
  EXPECT_EQ(body,
            json::parse(R"({"title": "Hello", "views": 12, "done": false, "tags": ["news", "tech"],
                                   "kind": "a", "meta": {"k": [1]}})"));
  Form bad = {{"f.title", "x"}, {"f.views", "many"}, {"f.meta", "{nope"}};
  body = FormToRecord(Posts(), bad, true, &errors);
  EXPECT_TRUE(errors.contains("views"));
  EXPECT_TRUE(errors.contains("meta"));
  EXPECT_FALSE(body.contains("views"));
  Form empty = {{"f.title", ""}, {"f.views", ""}};
  errors = json::object();
  body = FormToRecord(Posts(), empty, true, &errors);
  EXPECT_EQ(body["title"], "");  // the API decides that a required field is blank
  EXPECT_TRUE(body["views"].is_null());
}

TEST(AdminCommon, CommaListsAreTrimmedWithoutEmptyItems) {
  EXPECT_EQ(CommaList(" a, b ,,c,"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(CommaList(" , ").empty());
  EXPECT_EQ(CommaList("one"), (std::vector<std::string>{"one"}));
}

TEST(AdminCommon, SegmentsArePercentDecodedOnly) {
  EXPECT_EQ(SegmentText("blog.localhost"), "blog.localhost");
  EXPECT_EQ(SegmentText("a%20b+c"), "a b+c");
  EXPECT_EQ(SegmentText("bad%zz%2"), "bad%zz%2");
}

}  // namespace
}  // namespace hearth::admin

namespace hearth::admin {
namespace {

TEST(AdminUpload, TheFolderNameIsNotPartOfTheSitesPaths) {
  std::string error;
  auto files = FolderFiles(
      {{"dist/index.html", "", 0, 0}, {"dist/css/site.css", "", 0, 0}, {"", "", 0, 0}}, &error);
  EXPECT_TRUE(error.empty());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, "index.html");
  EXPECT_EQ(files[1].path, "css/site.css");
  // Files from different folders (or none) keep their paths.
  files = FolderFiles({{"a/x.html", "", 0, 0}, {"b/y.html", "", 0, 0}}, &error);
  EXPECT_EQ(files[0].path, "a/x.html");
  files = FolderFiles({{"index.html", "", 0, 0}}, &error);
  EXPECT_EQ(files[0].path, "index.html");
  FolderFiles({{"", "", 0, 0}}, &error);
  EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace hearth::admin

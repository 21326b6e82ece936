#include "admin/admins_page.h"

#include "admin/html.h"
#include "admin/loopback.h"
#include "base/strings.h"
#include "control/admins_api.h"

namespace hearth::admin {
namespace {

using nlohmann::json;

struct Typed {
  std::string email;  // what the add form held when it was refused
  std::string error;
};

std::string Render(const Session& s, const json& items, const Typed& typed) {
  const std::string& csrf = s.csrf;
  std::string h = "<h1>Admins</h1><p>";
  h += s.user.empty() ? "You are logged in with an admin token."
                      : "You are logged in as <strong>" + Escape(s.user) + "</strong>.";
  h += " Admin tokens (<a href=\"/_hearth/tokens\">Tokens</a>, <code>hearth tokens add</code>) and "
       "these admin users can all manage everything here.</p>";
  if (items.empty()) {
    h += "<div class=\"card\"><p>No admin users yet: until you add one, the console is reached "
         "with an admin token.</p></div>";
  } else {
    h += "<table><caption class=\"muted\">" + std::to_string(items.size()) +
         (items.size() == 1 ? " admin user" : " admin users") +
         "</caption><thead><tr><th scope=\"col\">Email</th><th scope=\"col\">Added</th>"
         "<th scope=\"col\">Last login</th><th scope=\"col\">Password</th><th "
         "scope=\"col\">Remove</th></tr></thead><tbody>";
    int row = 0;
    for (const auto& a : items) {
      std::string email = a.value("email", "");
      std::string base = "/_hearth/admins/" + UrlEncode(email);
      std::string id = "pw-" + std::to_string(row++);
      std::string last = a["last_login_at"].is_number() ? Date(a["last_login_at"].get<int64_t>())
                                                        : "<span class=\"muted\">never</span>";
      h += "<tr><td>" + Escape(email) + "</td><td>" + Date(a.value("created_at", int64_t{0})) +
           "</td><td>" + last +
           "</td><td><details><summary>Set a new password<span class=\"skip\"> for " +
           Escape(email) + "</span></summary><form method=\"post\" action=\"" + Escape(base) +
           "/password\">"
           "<input type=\"hidden\" name=\"csrf\" value=\"" +
           Escape(csrf) +
           "\">"
           "<label for=\"" +
           id + "\">New password for " + Escape(email) +
           "</label>"
           "<input id=\"" +
           id +
           "\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required "
           "minlength=\"" +
           std::to_string(control::kMinAdminPassword) +
           "\">"
           "<p class=\"hint\">Ends this admin's sessions: they log in again with the new "
           "password.</p>"
           "<p><button type=\"submit\">Set password</button></p></form></details></td><td>" +
           ButtonForm(base + "/remove", csrf, "Remove " + email, {}, "secondary") + "</td></tr>";
    }
    h += "</tbody></table>";
  }
  h += "<h2 id=\"add\">Add an admin</h2><div class=\"card\"><form method=\"post\" "
       "action=\"/_hearth/admins\">"
       "<input type=\"hidden\" name=\"csrf\" value=\"" +
       Escape(csrf) +
       "\">"
       "<label for=\"new-email\">Email</label>"
       "<input id=\"new-email\" name=\"email\" type=\"email\" autocomplete=\"off\" required "
       "value=\"" +
       Escape(typed.email) +
       "\">"
       "<label for=\"new-password\">Password</label>"
       "<input id=\"new-password\" name=\"password\" type=\"password\" "
       "autocomplete=\"new-password\" required minlength=\"" +
       std::to_string(control::kMinAdminPassword) +
       "\" aria-describedby=\"new-password-hint\">"
       "<p class=\"hint\" id=\"new-password-hint\">" +
       std::to_string(control::kMinAdminPassword) +
       " characters or more. Stored as an argon2id hash; nobody can read it back.</p>"
       "<p><button type=\"submit\">Add admin</button></p></form></div>";
  return h;
}

// Renders the page (after the list is read) with `flash`.
void Show(PageContext& ctx, int status, std::string flash, bool error, Typed typed) {
  Session s = ctx.session;
  CallApi(*ctx.api, Method::kGet, "/_hearth/api/admins", "", *ctx.res,
          [s, status, flash, error, typed](int st, const json& body, Response& out) {
            if (st != 200 || !body.contains("items")) {
              PageOptions o = Page("Admins", "admins", s.csrf, ApiError(st, body), true);
              return Html(out, 500, RenderPage(o, "<h1>Admins</h1>"));
            }
            Html(out, status,
                 RenderPage(Page("Admins", "admins", s.csrf, flash, error),
                            Render(s, body["items"], typed)));
          });
}

}  // namespace

void AdminsPage(PageContext& ctx) {
  Form query;
  (void)ParseQueryString(ctx.req->query, &query);
  std::string flash;
  if (std::string e = FormValue(query, "added"); !e.empty()) flash = e + " can log in now.";
  if (std::string e = FormValue(query, "password"); !e.empty()) flash = e + " has a new password.";
  if (std::string e = FormValue(query, "removed"); !e.empty())
    flash = e + " is no longer an admin.";
  Show(ctx, 200, flash, false, {});
}

void AdminsPost(PageContext& ctx, const std::vector<std::string>& rest, const Form& form) {
  PageContext copy = ctx;
  std::string self = ctx.session.user;
  auto refused = [copy](int status, const json& body, Typed typed, Response& out) mutable {
    // The page is drawn again with the API's reason on top (the list needs
    // another call, answered at once: a read).
    copy.res = &out;
    typed.error = ApiError(status, body);
    Show(copy, status, typed.error, true, typed);
  };
  if (rest.empty()) {
    std::string email(TrimOws(FormValue(form, "email")));
    json body = {{"email", email}, {"password", FormValue(form, "password")}};
    return CallApi(*ctx.api, Method::kPost, "/_hearth/api/admins", body.dump(), *ctx.res,
                   [refused, email](int status, const json& b, Response& out) mutable {
                     if (status / 100 != 2) return refused(status, b, Typed{email, ""}, out);
                     SeeOther(out, "/_hearth/admins?added=" + UrlEncode(b.value("email", email)));
                   });
  }
  if (rest.size() != 2 || (rest[1] != "password" && rest[1] != "remove")) {
    return Html(*ctx.res, 404,
                RenderPage(Page("Not found", "", ctx.session.csrf), "<h1>Not found</h1>"));
  }
  const std::string& email = rest[0];
  std::string path = "/_hearth/api/admins/" + UrlEncode(email);
  // Changing one's own password or removing oneself ends this session too.
  bool is_self = !self.empty() && EqualsIgnoreCase(self, email);
  if (rest[1] == "password") {
    json body = {{"password", FormValue(form, "password")}};
    return CallApi(*ctx.api, Method::kPatch, path, body.dump(), *ctx.res,
                   [refused, email, is_self](int status, const json& b, Response& out) mutable {
                     if (status / 100 != 2) return refused(status, b, Typed{}, out);
                     SeeOther(out, is_self ? "/_hearth/login?next=/_hearth/admins"
                                           : "/_hearth/admins?password=" + UrlEncode(email));
                   });
  }
  CallApi(*ctx.api, Method::kDelete, path, "", *ctx.res,
          [refused, email, is_self](int status, const json& b, Response& out) mutable {
            if (status / 100 != 2) return refused(status, b, Typed{}, out);
            SeeOther(out,
                     is_self ? "/_hearth/login" : "/_hearth/admins?removed=" + UrlEncode(email));
          });
}

}  // namespace hearth::admin

#include "admin/tokens_page.h"

#include "admin/html.h"
#include "admin/loopback.h"
#include "base/strings.h"

namespace hearth::admin {
namespace {

using nlohmann::json;

// What the add form held (kept when the API refuses it), and a new token's
// secret to show once.
struct Typed {
  std::string name, access = "deploy", site, expires;
  json created;  // the API's answer to the add ({id, name, scope, token}); null: none
};

std::string Option(std::string_view value, std::string_view label, std::string_view chosen) {
  return "<option value=\"" + std::string(value) + "\"" + (value == chosen ? " selected" : "") +
         ">" + std::string(label) + "</option>";
}

std::string Render(const Session& s, const json& items, const Typed& typed) {
  const std::string& csrf = s.csrf;
  std::string h =
      "<h1>API tokens</h1><p>Tokens let programs (CI, scripts, <code>hearth deploy</code>) use the "
      "control API: <code>Authorization: Bearer TOKEN</code>. A token's scope is what it may do: "
      "<strong>admin</strong> everything, <strong>read</strong> only look, "
      "<strong>deploy:SITE</strong> only deploy and roll back that one site.</p>";
  if (typed.created.is_object()) {
    h += "<div class=\"card\" role=\"status\"><h2>New token " +
         Escape(typed.created.value("name", "")) +
         "</h2><p>Copy it now: hearth keeps only its hash and will not show it again.</p>"
         "<label for=\"new-secret\">The token</label>"
         "<input id=\"new-secret\" readonly value=\"" +
         Escape(typed.created.value("token", "")) +
         "\" autocomplete=\"off\" spellcheck=\"false\"></div>";
  }
  if (items.empty()) {
    h += "<div class=\"card\"><p>No tokens.</p></div>";
  } else {
    h += "<table><caption class=\"muted\">" + std::to_string(items.size()) +
         (items.size() == 1 ? " token" : " tokens") +
         "</caption><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">ID</th><th "
         "scope=\"col\">Scope</th>"
         "<th scope=\"col\">Created</th><th scope=\"col\">Expires</th><th scope=\"col\">Last "
         "used</th>"
         "<th scope=\"col\">Revoke</th></tr></thead><tbody>";
    for (const auto& t : items) {
      std::string id = t.value("id", "");
      std::string name = t.value("name", "");
      auto when = [](const json& v, const char* none) {
        return v.is_number() ? Date(v.get<int64_t>())
                             : "<span class=\"muted\">" + std::string(none) + "</span>";
      };
      h += "<tr><td>" + Escape(name) +
           (id == s.token_id ? " <span class=\"muted\">(this session's)</span>" : "") +
           "</td><td><code>" + Escape(id) + "</code></td><td>" + Escape(t.value("scope", "")) +
           "</td><td>" + Date(t.value("created_at", int64_t{0})) + "</td><td>" +
           when(t["expires_at"], "never") + "</td><td>" + when(t["last_used_at"], "never") +
           "</td><td>" +
           ButtonForm("/_hearth/tokens/" + UrlEncode(id) + "/revoke", csrf,
                      "Revoke " + name + " (" + id + ")", {}, "secondary") +
           "</td></tr>";
    }
    h += "</tbody></table>";
  }
  h += "<h2 id=\"add\">Add a token</h2><div class=\"card\"><form method=\"post\" "
       "action=\"/_hearth/tokens\">"
       "<input type=\"hidden\" name=\"csrf\" value=\"" +
       Escape(csrf) +
       "\">"
       "<label for=\"token-name\">Name</label>"
       "<input id=\"token-name\" name=\"name\" required maxlength=\"100\" autocomplete=\"off\" "
       "value=\"" +
       Escape(typed.name) +
       "\" aria-describedby=\"token-name-hint\">"
       "<p class=\"hint\" id=\"token-name-hint\">What it is for, such as <code>ci</code>.</p>"
       "<label for=\"token-access\">Scope</label><select id=\"token-access\" name=\"access\">" +
       Option("deploy", "deploy: one site's deploys and rollbacks", typed.access) +
       Option("read", "read: look at everything, change nothing", typed.access) +
       Option("admin", "admin: everything", typed.access) +
       "</select>"
       "<label for=\"token-site\">Site (for a deploy token)</label>"
       "<input id=\"token-site\" name=\"site\" autocomplete=\"off\" value=\"" +
       Escape(typed.site) +
       "\" placeholder=\"blog.example.com\">"
       "<label for=\"token-expires\">Expires</label>"
       "<input id=\"token-expires\" name=\"expires\" autocomplete=\"off\" value=\"" +
       Escape(typed.expires) +
       "\" aria-describedby=\"token-expires-hint\">"
       "<p class=\"hint\" id=\"token-expires-hint\">A duration (<code>30d</code>, "
       "<code>12h</code>) or a date "
       "(<code>2030-12-31</code>, UTC); empty: never.</p>"
       "<p><button type=\"submit\">Add token</button></p></form></div>";
  return h;
}

// Renders the page (after the list is read) with `flash`.
void Show(PageContext& ctx, int status, std::string flash, bool error, Typed typed) {
  Session s = ctx.session;
  CallApi(*ctx.api, Method::kGet, "/_hearth/api/tokens", "", *ctx.res,
          [s, status, flash, error, typed](int st, const json& body, Response& out) {
            if (st != 200 || !body.contains("items")) {
              PageOptions o = Page("API tokens", "tokens", s.csrf, ApiError(st, body), true);
              return Html(out, 500, RenderPage(o, "<h1>API tokens</h1>"));
            }
            Html(out, status,
                 RenderPage(Page("API tokens", "tokens", s.csrf, flash, error),
                            Render(s, body["items"], typed)));
          });
}

}  // namespace

void TokensPage(PageContext& ctx) {
  Form query;
  (void)ParseQueryString(ctx.req->query, &query);
  std::string flash;
  if (std::string e = FormValue(query, "revoked"); !e.empty())
    flash = "Token " + e + " is revoked.";
  Show(ctx, 200, flash, false, {});
}

void TokensPost(PageContext& ctx, const std::vector<std::string>& rest, const Form& form) {
  PageContext copy = ctx;
  if (rest.empty()) {
    Typed typed;
    typed.name = std::string(TrimOws(FormValue(form, "name")));
    typed.access = FormValue(form, "access");
    typed.site = std::string(TrimOws(FormValue(form, "site")));
    typed.expires = std::string(TrimOws(FormValue(form, "expires")));
    json body = {{"name", typed.name},
                 {"scope", typed.access == "deploy" ? "deploy:" + typed.site : typed.access}};
    if (!typed.expires.empty()) body["expires"] = typed.expires;
    // The answer is this page, not a redirect: the secret is shown once, here,
    // and never travels in a URL.
    return CallApi(*ctx.api, Method::kPost, "/_hearth/api/tokens", body.dump(), *ctx.res,
                   [copy, typed](int status, const json& b, Response& out) mutable {
                     copy.res = &out;
                     if (status / 100 != 2)
                       return Show(copy, status, ApiError(status, b), true, typed);
                     Typed shown;
                     shown.created = b;
                     Show(copy, 200, "Token " + b.value("name", "") + " added.", false, shown);
                   });
  }
  if (rest.size() != 2 || rest[1] != "revoke")
    return Html(*ctx.res, 404,
                RenderPage(Page("Not found", "", ctx.session.csrf), "<h1>Not found</h1>"));
  const std::string& id = rest[0];
  // Revoking the token this session was made with ends this session too.
  bool is_self = !ctx.session.token_id.empty() && ctx.session.token_id == id;
  CallApi(*ctx.api, Method::kDelete, "/_hearth/api/tokens/" + UrlEncode(id), "", *ctx.res,
          [copy, id, is_self](int status, const json& b, Response& out) mutable {
            copy.res = &out;
            if (status / 100 != 2) return Show(copy, status, ApiError(status, b), true, Typed{});
            SeeOther(out, is_self ? "/_hearth/login" : "/_hearth/tokens?revoked=" + UrlEncode(id));
          });
}

}  // namespace hearth::admin

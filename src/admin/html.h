#pragma once
// HTML for the admin console: escaping, and the page layout every screen
// shares (header, navigation, skip link, flash message, the stylesheet).
// Pages are whole documents that read fine without JavaScript.
#include <string>
#include <string_view>
#include <utility>

namespace hearth::admin {

// Text made safe for element content and quoted attribute values (& < > " ').
std::string Escape(std::string_view text);

// Text made safe inside a URL path segment or query value (percent-encoded).
std::string UrlEncode(std::string_view text);

struct PageOptions {
  std::string title;   // the <title> and the page's <h1> is the caller's
  std::string active;  // the navigation entry to mark current ("sites")
  std::string csrf;    // the session's form token; "" for the login page (no navigation)
  std::string flash;   // a one-line message on top ("" for none)
  bool flash_error = false;
};

inline PageOptions Page(std::string title, std::string active = "", std::string csrf = "",
                        std::string flash = "", bool flash_error = false) {
  PageOptions o;
  o.title = std::move(title);
  o.active = std::move(active);
  o.csrf = std::move(csrf);
  o.flash = std::move(flash);
  o.flash_error = flash_error;
  return o;
}

// A whole HTML document around `main_html` (already escaped where needed).
std::string RenderPage(const PageOptions& options, std::string_view main_html);

// A POST form holding only a button (and the CSRF token, and `fields` as
// hidden inputs: name, value pairs already chosen by the caller).
std::string ButtonForm(std::string_view action, std::string_view csrf, std::string_view label,
                       std::initializer_list<std::pair<std::string_view, std::string>> fields = {},
                       std::string_view css_class = "");

}  // namespace hearth::admin

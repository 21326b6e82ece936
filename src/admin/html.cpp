#include "admin/html.h"

#include "admin/assets.h"
#include "base/strings.h"

namespace hearth::admin {

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string UrlEncode(std::string_view text) {
  return PercentEncode(text);
}

std::string RenderPage(const PageOptions& o, std::string_view main_html) {
  std::string css = "/_hearth/ui/app.css";
  if (const Asset* a = FindAsset("app.css")) css += "?v=" + AssetVersion(*a);
  std::string out;
  out.reserve(main_html.size() + 2048);
  out +=
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>";
  out += Escape(o.title);
  std::string js = "/_hearth/ui/app.js";
  if (const Asset* a = FindAsset("app.js")) js += "?v=" + AssetVersion(*a);
  out += " · hearth</title>\n<link rel=\"stylesheet\" href=\"" + css + "\">\n<script defer src=\"" +
         js + "\"></script>\n</head>\n<body>\n";
  out += "<a class=\"skip\" href=\"#main\">Skip to content</a>\n";
  if (!o.csrf.empty()) {
    auto item = [&](std::string_view key, std::string_view href, std::string_view label) {
      out += "<li><a href=\"";
      out += href;
      out += "\"";
      if (o.active == key) out += " aria-current=\"page\"";
      out += ">";
      out += label;
      out += "</a></li>";
    };
    out +=
        "<header class=\"top\"><a class=\"brand\" href=\"/_hearth/\">hearth</a>\n<nav "
        "aria-label=\"Main\"><ul>";
    item("overview", "/_hearth/", "Overview");
    item("sites", "/_hearth/sites", "Sites");
    item("admins", "/_hearth/admins", "Admins");
    item("tokens", "/_hearth/tokens", "Tokens");
    item("logs", "/_hearth/logs", "Log");
    out += "</ul></nav>\n";
    out += ButtonForm("/_hearth/logout", o.csrf, "Log out", {}, "link");
    out += "</header>\n";
  }
  out += "<main id=\"main\">\n";
  if (!o.flash.empty()) {
    out += o.flash_error ? "<p class=\"flash error\" role=\"alert\">"
                         : "<p class=\"flash\" role=\"status\">";
    out += Escape(o.flash);
    out += "</p>\n";
  }
  out += main_html;
  out += "\n</main>\n</body>\n</html>\n";
  return out;
}

std::string ButtonForm(std::string_view action, std::string_view csrf, std::string_view label,
                       std::initializer_list<std::pair<std::string_view, std::string>> fields,
                       std::string_view css_class) {
  std::string out = "<form class=\"inline\" method=\"post\" action=\"" + Escape(action) + "\">";
  out += "<input type=\"hidden\" name=\"csrf\" value=\"" + Escape(csrf) + "\">";
  for (const auto& [name, value] : fields)
    out += "<input type=\"hidden\" name=\"" + Escape(name) + "\" value=\"" + Escape(value) + "\">";
  out += "<button type=\"submit\"";
  if (!css_class.empty()) out += " class=\"" + Escape(css_class) + "\"";
  out += ">" + Escape(label) + "</button></form>";
  return out;
}

}  // namespace hearth::admin

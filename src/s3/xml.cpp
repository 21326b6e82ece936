#include "s3/xml.h"

#include "base/strings.h"

namespace hearth::s3 {

const XmlNode* XmlNode::Child(std::string_view n) const {
  for (const auto& c : children)
    if (c.name == n) return &c;
  return nullptr;
}

std::string XmlNode::ChildText(std::string_view n) const {
  const XmlNode* c = Child(n);
  return c ? c->text : std::string();
}

namespace {

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A scanner over the whole document, one pass, no recursion deeper than
// kMaxXmlDepth.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  Result<XmlNode> Document() {
    if (s_.size() > kMaxXmlBytes) return Error{"the XML answer is larger than 16 MiB"};
    if (Status st = SkipMisc(); !st.ok()) return st.error();
    if (!Peek('<')) return Fail("no root element");
    XmlNode root;
    if (Status st = Element(&root, 1); !st.ok()) return st.error();
    if (Status st = SkipMisc(); !st.ok()) return st.error();
    if (pos_ != s_.size()) return Fail("bytes after the root element");
    return root;
  }

 private:
  Error Fail(std::string_view what) const {
    return Error{"malformed XML answer: " + std::string(what) + " at byte " + std::to_string(pos_)};
  }
  bool Peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool StartsWith(std::string_view p) const { return s_.substr(pos_).substr(0, p.size()) == p; }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r' || s_[pos_] == '\n'))
      ++pos_;
  }
  // Skips to just after `end`; an error if it never comes.
  Status SkipPast(std::string_view end) {
    size_t at = s_.find(end, pos_);
    if (at == std::string_view::npos) return Fail("unterminated markup");
    pos_ = at + end.size();
    return OkStatus();
  }
  // Whitespace, the XML declaration, processing instructions and comments
  // before and after the root. A DOCTYPE is refused (no entity tricks).
  Status SkipMisc() {
    for (;;) {
      SkipSpace();
      if (StartsWith("<?")) {
        if (Status st = SkipPast("?>"); !st.ok()) return st;
      } else if (StartsWith("<!--")) {
        if (Status st = SkipPast("-->"); !st.ok()) return st;
      } else if (StartsWith("<!")) {
        return Fail("a DOCTYPE");
      } else {
        return OkStatus();
      }
    }
  }
  static bool NameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':' || static_cast<unsigned char>(c) >= 0x80;
  }
  std::string_view Name() {
    size_t start = pos_;
    while (pos_ < s_.size() && NameChar(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  static std::string_view LocalName(std::string_view qname) {
    size_t colon = qname.rfind(':');
    return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
  }
  // Text up to the next '<', entities decoded, appended to `out`.
  Status Text(std::string* out) {
    while (pos_ < s_.size() && s_[pos_] != '<') {
      char c = s_[pos_];
      if (c != '&') {
        out->push_back(c);
        ++pos_;
        continue;
      }
      size_t semi = s_.find(';', pos_);
      if (semi == std::string_view::npos || semi - pos_ > 12) return Fail("a bad entity");
      std::string_view ent = s_.substr(pos_ + 1, semi - pos_ - 1);
      if (ent == "amp") {
        out->push_back('&');
      } else if (ent == "lt") {
        out->push_back('<');
      } else if (ent == "gt") {
        out->push_back('>');
      } else if (ent == "quot") {
        out->push_back('"');
      } else if (ent == "apos") {
        out->push_back('\'');
      } else if (ent.size() >= 2 && ent[0] == '#') {
        uint64_t cp = 0;
        bool ok = ent[1] == 'x' ? ParseHex(ent.substr(2), &cp) : ParseUint(ent.substr(1), &cp);
        if (!ok || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
          return Fail("a bad character reference");
        AppendUtf8(out, static_cast<uint32_t>(cp));
      } else {
        return Fail("an unknown entity");
      }
      pos_ = semi + 1;
    }
    return OkStatus();
  }
  // At '<' of a start tag: reads the element whole into `node`.
  Status Element(XmlNode* node, int depth) {
    if (depth > kMaxXmlDepth) return Fail("nesting deeper than 16");
    if (++elements_ > kMaxXmlElements) return Fail("more than 200000 elements");
    ++pos_;  // '<'
    std::string_view qname = Name();
    if (qname.empty()) return Fail("an element without a name");
    node->name = std::string(LocalName(qname));
    if (node->name.empty()) return Fail("an element with an empty local name");
    // Attributes: skipped (S3 only puts xmlns there), quotes respected.
    for (;;) {
      if (pos_ >= s_.size()) return Fail("an unterminated start tag");
      char c = s_[pos_];
      if (c == '"' || c == '\'') {
        size_t close = s_.find(c, pos_ + 1);
        if (close == std::string_view::npos) return Fail("an unterminated attribute");
        pos_ = close + 1;
      } else if (c == '/') {
        if (pos_ + 1 >= s_.size() || s_[pos_ + 1] != '>') return Fail("a stray '/'");
        pos_ += 2;
        return OkStatus();  // <Empty/>
      } else if (c == '>') {
        ++pos_;
        break;
      } else if (c == '<') {
        return Fail("'<' inside a tag");
      } else {
        ++pos_;
      }
    }
    for (;;) {
      if (Status st = Text(&node->text); !st.ok()) return st;
      if (pos_ >= s_.size()) return Fail("an unclosed <" + node->name + ">");
      if (StartsWith("</")) {
        pos_ += 2;
        std::string_view end = Name();
        SkipSpace();
        if (LocalName(end) != node->name || !Peek('>')) return Fail("a mismatched end tag");
        ++pos_;
        return OkStatus();
      }
      if (StartsWith("<![CDATA[")) {
        size_t end = s_.find("]]>", pos_ + 9);
        if (end == std::string_view::npos) return Fail("an unterminated CDATA section");
        node->text.append(s_.substr(pos_ + 9, end - pos_ - 9));
        pos_ = end + 3;
      } else if (StartsWith("<!--")) {
        if (Status st = SkipPast("-->"); !st.ok()) return st;
      } else if (StartsWith("<?")) {
        if (Status st = SkipPast("?>"); !st.ok()) return st;
      } else if (StartsWith("<!")) {
        return Fail("a declaration inside an element");
      } else {
        node->children.emplace_back();
        if (Status st = Element(&node->children.back(), depth + 1); !st.ok()) return st;
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  size_t elements_ = 0;
};

Result<XmlNode> Root(std::string_view xml, std::string_view expected) {
  auto root = ParseXml(xml);
  if (!root.ok()) return root.error();
  if (root->name != expected)
    return Error{"expected <" + std::string(expected) + "> from S3, got <" + root->name + ">"};
  return root;
}

}  // namespace

Result<XmlNode> ParseXml(std::string_view xml) {
  return Scanner(xml).Document();
}

std::string XmlEscape(std::string_view text) {
  std::string out;
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
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

Result<ListPage> ParseListPage(std::string_view xml) {
  auto root = Root(xml, "ListBucketResult");
  if (!root.ok()) return root.error();
  ListPage page;
  for (const auto& c : root->children) {
    if (c.name == "Contents") {
      ListedObject o;
      o.key = c.ChildText("Key");
      if (o.key.empty()) return Error{"a listed object without a <Key>"};
      if (const XmlNode* size = c.Child("Size"); size && !ParseUint(size->text, &o.size))
        return Error{"a listed object with a bad <Size>: " + size->text.substr(0, 40)};
      o.last_modified = c.ChildText("LastModified");
      page.objects.push_back(std::move(o));
    } else if (c.name == "CommonPrefixes") {
      page.common_prefixes.push_back(c.ChildText("Prefix"));
    } else if (c.name == "IsTruncated") {
      page.truncated = c.text == "true";
    } else if (c.name == "NextContinuationToken") {
      page.next_token = c.text;
    }
  }
  if (page.truncated && page.next_token.empty())
    return Error{"a truncated listing without a NextContinuationToken"};
  return page;
}

Result<std::string> ParseUploadId(std::string_view xml) {
  auto root = Root(xml, "InitiateMultipartUploadResult");
  if (!root.ok()) return root.error();
  std::string id = root->ChildText("UploadId");
  if (id.empty()) return Error{"S3 started a multipart upload without an UploadId"};
  return id;
}

std::optional<S3ErrorBody> ParseErrorBody(std::string_view xml) {
  auto root = ParseXml(xml);
  if (!root.ok() || root->name != "Error") return std::nullopt;
  return S3ErrorBody{root->ChildText("Code"), root->ChildText("Message")};
}

Result<std::string> ParseCompleteResult(std::string_view xml) {
  auto root = Root(xml, "CompleteMultipartUploadResult");
  if (!root.ok()) return root.error();
  return root->ChildText("ETag");
}

Result<std::vector<DeleteFailure>> ParseDeleteResult(std::string_view xml) {
  auto root = Root(xml, "DeleteResult");
  if (!root.ok()) return root.error();
  std::vector<DeleteFailure> out;
  for (const auto& c : root->children)
    if (c.name == "Error")
      out.push_back({c.ChildText("Key"), c.ChildText("Code"), c.ChildText("Message")});
  return out;
}

}  // namespace hearth::s3

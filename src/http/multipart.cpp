#include "http/multipart.h"

#include <algorithm>

#include "base/strings.h"

namespace hearth {
namespace {

constexpr size_t kMaxParts = 1000;

// The value of `key` in a header's parameters: form-data; name="a"; filename="b".
std::string Param(std::string_view header, std::string_view key) {
  // The next ';' that is not inside a quoted value (filename="a;b.png").
  auto next_semi = [](std::string_view h) {
    bool quoted = false;
    for (size_t i = 0; i < h.size(); ++i) {
      if (h[i] == '"')
        quoted = !quoted;
      else if (h[i] == ';' && !quoted)
        return i;
    }
    return std::string_view::npos;
  };
  while (!header.empty()) {
    size_t semi = next_semi(header);
    std::string_view item = TrimOws(header.substr(0, semi));
    header.remove_prefix(semi == std::string_view::npos ? header.size() : semi + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || !EqualsIgnoreCase(TrimOws(item.substr(0, eq)), key))
      continue;
    std::string_view v = TrimOws(item.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return std::string(v);
  }
  return {};
}

// One header line of a part, into `part`; an error message, or "".
std::string PartHeader(std::string_view line, FormPart* part) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return "malformed multipart part header";
  std::string_view name = TrimOws(line.substr(0, colon)), value = TrimOws(line.substr(colon + 1));
  if (EqualsIgnoreCase(name, "Content-Disposition")) {
    if (!EqualsIgnoreCase(TrimOws(value.substr(0, value.find(';'))), "form-data"))
      return "a multipart part is not form-data";
    std::string_view params = value.substr(
        value.find(';') == std::string_view::npos ? value.size() : value.find(';') + 1);
    part->name = Param(params, "name");
    part->filename = Param(params, "filename");
  } else if (EqualsIgnoreCase(name, "Content-Type")) {
    part->content_type = std::string(value);
  }
  return "";
}

constexpr size_t kMaxPartHeaders = 16 * 1024;

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  std::string_view type = TrimOws(content_type.substr(0, content_type.find(';')));
  if (!EqualsIgnoreCase(type, "multipart/form-data")) return Error{"not multipart/form-data"};
  std::string b = Param(content_type.substr(content_type.find(';') == std::string_view::npos
                                                ? content_type.size()
                                                : content_type.find(';') + 1),
                        "boundary");
  if (b.empty() || b.size() > 70) return Error{"multipart/form-data without a usable boundary"};
  return b;
}

Result<std::vector<FormPart>> ParseMultipart(std::string_view body, std::string_view boundary) {
  std::vector<FormPart> parts;
  std::string delim = "--" + std::string(boundary);
  if (body.substr(0, delim.size()) != delim)
    return Error{"multipart body does not start with its boundary"};
  size_t pos = delim.size();
  std::string next = "\r\n" + delim;
  while (true) {
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n") return Error{"malformed multipart boundary line"};
    pos += 2;
    if (parts.size() >= kMaxParts) return Error{"more than 1000 parts"};
    FormPart part;
    // Headers, up to an empty line.
    while (true) {
      size_t eol = body.find("\r\n", pos);
      if (eol == std::string_view::npos) return Error{"multipart part headers do not end"};
      std::string_view line = body.substr(pos, eol - pos);
      pos = eol + 2;
      if (line.empty()) break;
      if (std::string why = PartHeader(line, &part); !why.empty()) return Error{why};
    }
    if (part.name.empty()) return Error{"a multipart part has no name"};
    size_t end = body.find(next, pos);
    if (end == std::string_view::npos)
      return Error{"multipart body does not end with its boundary"};
    part.data = body.substr(pos, end - pos);
    parts.push_back(std::move(part));
    pos = end + next.size();
  }
}

MultipartReader::MultipartReader(std::string_view boundary, Events* events, size_t max_parts)
    : delim_("--" + std::string(boundary)),
      next_("\r\n--" + std::string(boundary)),
      events_(events),
      max_parts_(max_parts) {}

Status MultipartReader::Fail(std::string message) {
  error_ = std::move(message);
  state_ = State::kDone;
  buf_.clear();
  pos_ = 0;
  return Error{error_};
}

Status MultipartReader::Feed(std::string_view bytes) {
  if (!error_.empty()) return Error{error_};
  if (state_ == State::kDone) return OkStatus();  // the epilogue: ignored
  buf_.append(bytes);
  for (bool progressed = true; progressed;) {
    progressed = false;
    if (Status st = Step(&progressed); !st.ok()) return st;
  }
  // What was read goes, once per piece (not once per line).
  buf_.erase(0, pos_);
  pos_ = 0;
  return OkStatus();
}

// One step of the reading, from what buf_ holds past pos_; *progressed when it moved on.
Status MultipartReader::Step(bool* progressed) {
  std::string_view rest = std::string_view(buf_).substr(pos_);
  switch (state_) {
    case State::kStart: {
      size_t n = std::min(rest.size(), delim_.size());
      if (rest.substr(0, n) != std::string_view(delim_).substr(0, n))
        return Fail("multipart body does not start with its boundary");
      if (rest.size() < delim_.size()) return OkStatus();
      pos_ += delim_.size();
      state_ = State::kAfterDelimiter;
      *progressed = true;
      return OkStatus();
    }
    case State::kAfterDelimiter:
      if (rest.size() < 2) {
        if (!rest.empty() && rest[0] != '-' && rest[0] != '\r')
          return Fail("malformed multipart boundary line");
        return OkStatus();
      }
      if (rest.substr(0, 2) == "--") {
        state_ = State::kDone;  // the closing delimiter; what follows is ignored
        buf_.clear();
        pos_ = 0;
        return OkStatus();
      }
      if (rest.substr(0, 2) != "\r\n") return Fail("malformed multipart boundary line");
      if (parts_ >= max_parts_) return Fail("more than " + std::to_string(max_parts_) + " parts");
      pos_ += 2;
      part_ = FormPart{};
      state_ = State::kHeaders;
      *progressed = true;
      return OkStatus();
    case State::kHeaders: {
      size_t eol = rest.find("\r\n");
      if ((eol == std::string_view::npos ? rest.size() : eol) > kMaxPartHeaders)
        return Fail("a multipart part header over 16 KiB");
      if (eol == std::string_view::npos) return OkStatus();
      std::string_view line = rest.substr(0, eol);
      pos_ += eol + 2;
      *progressed = true;
      if (!line.empty()) {
        if (std::string why = PartHeader(line, &part_); !why.empty()) return Fail(why);
        return OkStatus();
      }
      if (part_.name.empty()) return Fail("a multipart part has no name");
      ++parts_;
      state_ = State::kData;
      if (Status st = events_->OnPart(part_); !st.ok()) return Fail(st.error().message);
      return OkStatus();
    }
    case State::kData: {
      size_t end = rest.find(next_);
      if (end == std::string_view::npos) {
        // All but what could be the start of the delimiter goes on now.
        if (rest.size() < next_.size()) return OkStatus();
        size_t safe = rest.size() - (next_.size() - 1);
        if (Status st = events_->OnData(rest.substr(0, safe)); !st.ok())
          return Fail(st.error().message);
        pos_ += safe;
        return OkStatus();
      }
      if (end > 0)
        if (Status st = events_->OnData(rest.substr(0, end)); !st.ok())
          return Fail(st.error().message);
      pos_ += end + next_.size();
      if (Status st = events_->OnPartEnd(); !st.ok()) return Fail(st.error().message);
      state_ = State::kAfterDelimiter;
      *progressed = true;
      return OkStatus();
    }
    case State::kDone:
      return OkStatus();
  }
  return OkStatus();
}

Status MultipartReader::Finish() {
  if (!error_.empty()) return Error{error_};
  if (state_ == State::kDone) return OkStatus();
  switch (state_) {
    case State::kStart:
      return Fail("multipart body does not start with its boundary");
    case State::kAfterDelimiter:
      return Fail("malformed multipart boundary line");
    case State::kHeaders:
      return Fail("multipart part headers do not end");
    default:
      return Fail("multipart body does not end with its boundary");
  }
}

}  // namespace hearth

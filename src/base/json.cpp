#include "base/json.h"

#include <string>

namespace hearth {
namespace {

using nlohmann::json;

// Counts depth and values; returning false stops the parse at once.
class LimitSax : public nlohmann::json_sax<json> {
 public:
  explicit LimitSax(const JsonLimits& l) : limits_(l) {}
  enum class Why { kNone, kDepth, kElements, kSyntax };
  Why why = Why::kNone;

  bool null() override { return Count(); }
  bool boolean(bool) override { return Count(); }
  bool number_integer(number_integer_t) override { return Count(); }
  bool number_unsigned(number_unsigned_t) override { return Count(); }
  bool number_float(number_float_t, const string_t&) override { return Count(); }
  bool string(string_t&) override { return Count(); }
  bool binary(binary_t&) override { return Count(); }
  bool key(string_t&) override { return Count(); }
  bool start_object(std::size_t) override { return Open(); }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    why = Why::kSyntax;
    return false;
  }

 private:
  bool Count() {
    if (++elements_ <= limits_.max_elements) return true;
    why = Why::kElements;
    return false;
  }
  bool Open() {
    if (++depth_ > limits_.max_depth) {
      why = Why::kDepth;
      return false;
    }
    return Count();
  }
  bool Close() {
    --depth_;
    return true;
  }

  const JsonLimits& limits_;
  int depth_ = 0;
  size_t elements_ = 0;
};

}  // namespace

Result<json> ParseJson(std::string_view text, const JsonLimits& limits) {
  LimitSax sax(limits);
  bool ok =
      json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, /*strict=*/true);
  if (!ok || sax.why != LimitSax::Why::kNone) {
    switch (sax.why) {
      case LimitSax::Why::kDepth:
        return Error{"The JSON is nested deeper than " + std::to_string(limits.max_depth) +
                     " levels."};
      case LimitSax::Why::kElements:
        return Error{"The JSON has more than " + std::to_string(limits.max_elements) + " values."};
      default:
        return Error{"The body is not valid JSON."};
    }
  }
  // Within the limits: the DOM parse cannot go deep, and cannot throw (the
  // same text just parsed).
  json out = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) return Error{"The body is not valid JSON."};
  return out;
}

}  // namespace hearth

#pragma once
// The one way text from outside becomes JSON: request bodies, multipart
// @jsonPayload parts, realtime subscriptions, tokens' payloads, answers from
// other servers. nlohmann's parser is iterative, but copying, dumping and
// comparing a value recurse once per level: a body nested 150,000 levels
// deep overflows a worker's stack. ParseJson first walks the text with a SAX
// counter (no allocation, no recursion) and refuses it past the limits, so
// every value that reaches the rest of hearth is shallow and of bounded size.
//
// Trusted JSON (what hearth itself wrote into its databases) may still use
// nlohmann::json::parse directly; tests/unit/json_test.cpp lists the files
// allowed to, and fails when a new one appears.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/result.h"

namespace hearth {

struct JsonLimits {
  int max_depth = 64;            // arrays and objects inside each other
  size_t max_elements = 200000;  // values of every kind, and object keys
};

// `text` as JSON, or an Error whose message is one sentence for a client:
// "The JSON is nested deeper than 64 levels.", "... has more than 200000
// values.", "The body is not valid JSON." Never throws.
Result<nlohmann::json> ParseJson(std::string_view text, const JsonLimits& limits = {});

}  // namespace hearth

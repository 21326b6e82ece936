#pragma once
// The host names hearth answers to, in one normal form: a site's name and
// hosts, a deploy token's site, the CLI's arguments are all checked here, so
// "Example.COM" and "example.com" are one site everywhere.
#include <string>
#include <string_view>

#include "base/result.h"

namespace hearth {

// A host name a site may answer to: "example.com", "blog.example.com",
// "*.example.com", "localhost". Lower-cases it; refuses anything else.
Result<std::string> NormalizeHost(std::string_view host);

}  // namespace hearth

#pragma once
// A Request that owns every byte it names. A Request's views (path, target,
// header names and values, the peer's address) point into the connection's
// buffers, which the next request reuses; a request that must outlive them
// (one parked in the admission queue) is cloned here, in one place, so a
// field added to Request is added to the clone once (request_clone_test.cpp
// checks that the clone equals the original field by field).
#include <memory>
#include <string>

#include "http/request.h"

namespace hearth {

struct OwnedRequest {
  OwnedRequest() = default;
  OwnedRequest(const OwnedRequest&) = delete;  // `request`'s views point into this object
  OwnedRequest& operator=(const OwnedRequest&) = delete;

  Request request;
  std::string bytes;  // what `request`'s views name (never reallocated once made)
};

// Every field of `from`, with the bytes its views name copied. The body is
// moved out of `from` when `take_body` (it may be large), copied otherwise.
std::unique_ptr<OwnedRequest> CloneRequest(Request& from, bool take_body);

}  // namespace hearth

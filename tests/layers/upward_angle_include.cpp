// Not compiled. The layer check's own test scans this file as if it were in
// src/base/ and must fail: an upward include spelled with angle brackets finds
// the same header as a quoted one (every library's include root is src/).
#include <server/server.h>

#include <cstdint>
#include <nlohmann/json.hpp>

#include "base/log.h"

// Not compiled. The layer check's own test scans this file as if it were in
// src/base/ and must fail: "base/../server/server.h" starts in base's folder
// but the compiler opens server's header.
#include <cstdint>

#include "base/../server/server.h"
#include "base/log.h"

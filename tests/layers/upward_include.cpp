// Not compiled. The layer check's own test scans this file as if it were in
// src/base/ and must fail: base may include nothing of hearth's but base.
#include "base/log.h"
#include "server/server.h"

#include "http/dispatch.h"

#include <exception>

#include "base/log.h"

namespace hearth {

void Dispatch(const Handler& root, Request& req, Response& res) {
  try {
    root(req, res);
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "handler failed", {{"error", e.what()}, {"path", std::string(req.path)}});
    res.Reset();
    res.SetError(500);
  } catch (...) {
    Log(LogLevel::kError, "handler failed", {{"path", std::string(req.path)}});
    res.Reset();
    res.SetError(500);
  }
}

}  // namespace hearth

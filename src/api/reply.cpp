#include "api/reply.h"

namespace hearth::api {

void Json(Response& res, int status, const nlohmann::json& body) {
  // Text from requests may be in it: invalid UTF-8 is replaced, never thrown on.
  res.SetText(status, "application/json",
              body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  res.SetHeader("Cache-Control", "no-store");
}

void Fail(Response& res, int status, const std::string& message) {
  Json(res, status, {{"error", message}});
}

void SubmitWrite(store::Store* store, std::shared_ptr<Reply> reply, WriteFn fn,
                 std::function<void()> on_success) {
  auto outcome = std::make_shared<Outcome>();
  store->SubmitWrite(
      [fn = std::move(fn), outcome](store::Connection& c) { return fn(c, outcome.get()); },
      [reply, outcome, on_success = std::move(on_success)](const Status& st) {
        if (st.ok() && outcome->after_commit) outcome->after_commit();
        if (st.ok() && on_success) on_success();
        Outcome o = st.ok() ? *outcome
                            : Outcome{outcome->status >= 400 ? outcome->status : 500,
                                      {{"error", st.error().message}},
                                      nullptr};
        reply->Finish([o](Response& r) { Json(r, o.status, o.body); });
      });
}

void DeferWrite(store::Store* store, Response& res, WriteFn fn, std::function<void()> on_success) {
  SubmitWrite(store, res.Defer(), std::move(fn), std::move(on_success));
}

Status Refuse(Outcome* o, int status, const std::string& message) {
  o->status = status;
  return Error{message};
}

}  // namespace hearth::api

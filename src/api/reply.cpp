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

void ListItems(Response& res, store::Connection& rd, std::string_view statement,
               const std::function<nlohmann::json(store::Statement&)>& row,
               const nlohmann::json& extra) {
  nlohmann::json items = nlohmann::json::array();
  store::Statement st = rd.Named(statement);
  Status s = OkStatus();
  while (st.Step(&s)) items.push_back(row(st));
  if (!s.ok()) return Fail(res, 500, s.error().message);
  nlohmann::json body = extra;
  body["items"] = std::move(items);
  Json(res, 200, body);
}

void NotAllowed(Response& res, std::initializer_list<std::string_view> methods) {
  std::string allow, use;
  size_t i = 0;
  for (std::string_view m : methods) {
    allow.append(i ? ", " : "").append(m);
    use.append(i == 0 ? "" : i + 1 == methods.size() ? " or " : ", ").append(m);
    ++i;
  }
  res.SetHeader("Allow", allow);
  Fail(res, 405, "use " + use);
}

void SubmitWrite(store::Store* store, std::shared_ptr<Reply> reply, WriteFn fn) {
  auto outcome = std::make_shared<Outcome>();
  store->SubmitWrite(
      [fn = std::move(fn), outcome](store::Connection& c) { return fn(c, outcome.get()); },
      [reply, outcome](const Status& st) {
        Outcome o = st.ok() ? *outcome
                            : Outcome{outcome->status >= 400 ? outcome->status : 500,
                                      {{"error", st.error().message}}};
        reply->Finish([o](Response& r) { Json(r, o.status, o.body); });
      });
}

void DeferWrite(store::Store* store, Response& res, WriteFn fn) {
  SubmitWrite(store, res.Defer(), std::move(fn));
}

Status Refuse(Outcome* o, int status, const std::string& message) {
  o->status = status;
  return Error{message};
}

}  // namespace hearth::api

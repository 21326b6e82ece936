#include "server/service.h"

namespace hearth {

Services::~Services() {
  StopAll();
}

Status Services::StartAll(const Settings& settings) {
  for (auto& s : list_)
    if (Status st = s->Validate(settings); !st.ok())
      return Error{std::string(s->name()) + ": " + st.error().message};
  for (auto& s : list_) {
    Status st = before_start_ ? before_start_(s->name()) : OkStatus();
    if (st.ok()) st = s->Start();
    if (!st.ok()) {
      Error e{std::string(s->name()) + ": " + st.error().message};
      StopAll();
      return e;
    }
    ++started_;
  }
  return OkStatus();
}

void Services::StopAll() {
  while (started_ > 0) {
    --started_;
    list_[started_]->Stop();
  }
}

void Services::ReloadAll(const Settings& settings) {
  for (size_t i = 0; i < started_; ++i) list_[i]->Reload(settings);
}

std::string Services::Metrics() const {
  std::string out;
  for (size_t i = 0; i < started_; ++i) out += list_[i]->Metrics();
  return out;
}

std::vector<BackupSource> Services::BackupSources() const {
  std::vector<BackupSource> out;
  for (auto& s : list_)
    for (auto& b : s->BackupSources()) out.push_back(std::move(b));
  return out;
}

}  // namespace hearth

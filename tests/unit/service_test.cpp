#include "server/service.h"

#include <gtest/gtest.h>

#include "server/settings.h"

namespace hearth {
namespace {

// Records what happened to it in a shared journal.
class Probe : public Service {
 public:
  Probe(std::string name, std::vector<std::string>* journal, bool fail_validate = false,
        bool fail_start = false)
      : name_(std::move(name)),
        journal_(journal),
        fail_validate_(fail_validate),
        fail_start_(fail_start) {}
  std::string_view name() const override { return name_; }
  Status Validate(const Settings&) override {
    journal_->push_back("validate " + name_);
    if (fail_validate_) return Error{"bad setting"};
    return OkStatus();
  }
  Status Start() override {
    journal_->push_back("start " + name_);
    if (fail_start_) return Error{"port 80 is taken"};
    return OkStatus();
  }
  void Stop() override { journal_->push_back("stop " + name_); }
  void Reload(const Settings&) override { journal_->push_back("reload " + name_); }
  std::string Metrics() const override { return name_ + "_up 1\n"; }
  std::vector<BackupSource> BackupSources() const override {
    return {{BackupSource::Kind::kDatabase, name_ + ".db"}};
  }

 private:
  std::string name_;
  std::vector<std::string>* journal_;
  bool fail_validate_, fail_start_;
};

TEST(ServicesTest, StartsInOrderAndStopsInReverse) {
  std::vector<std::string> j;
  Settings settings;
  {
    Services s;
    s.Add(std::make_unique<Probe>("store", &j));
    s.Add(std::make_unique<Probe>("tls", &j));
    s.Add(std::make_unique<Probe>("workers", &j));
    ASSERT_TRUE(s.StartAll(settings).ok());
    EXPECT_EQ(s.started(), 3u);
    EXPECT_EQ(s.Metrics(), "store_up 1\ntls_up 1\nworkers_up 1\n");
    EXPECT_EQ(s.BackupSources().size(), 3u);
    s.ReloadAll(settings);
  }  // the destructor stops them
  EXPECT_EQ(j, (std::vector<std::string>{"validate store", "validate tls", "validate workers",
                                         "start store", "start tls", "start workers",
                                         "reload store", "reload tls", "reload workers",
                                         "stop workers", "stop tls", "stop store"}));
}

TEST(ServicesTest, FailedStartStopsWhatStartedInReverseAndNamesThePart) {
  std::vector<std::string> j;
  Settings settings;
  Services s;
  s.Add(std::make_unique<Probe>("store", &j));
  s.Add(std::make_unique<Probe>("tls", &j));
  s.Add(std::make_unique<Probe>("workers", &j, false, /*fail_start=*/true));
  s.Add(std::make_unique<Probe>("stats", &j));
  Status st = s.StartAll(settings);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "workers: port 80 is taken");
  EXPECT_EQ(s.started(), 0u);
  // The failed one is not stopped (it undid its own half start); stats never started.
  EXPECT_EQ(j, (std::vector<std::string>{"validate store", "validate tls", "validate workers",
                                         "validate stats", "start store", "start tls",
                                         "start workers", "stop tls", "stop store"}));
  s.StopAll();  // idempotent
  EXPECT_EQ(j.size(), 9u);
}

TEST(ServicesTest, FailedValidationStartsNothing) {
  std::vector<std::string> j;
  Settings settings;
  Services s;
  s.Add(std::make_unique<Probe>("store", &j));
  s.Add(std::make_unique<Probe>("tls", &j, /*fail_validate=*/true));
  Status st = s.StartAll(settings);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "tls: bad setting");
  EXPECT_EQ(j, (std::vector<std::string>{"validate store", "validate tls"}));
}

}  // namespace
}  // namespace hearth

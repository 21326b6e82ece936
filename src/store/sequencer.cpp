#include "store/sequencer.h"

#include <algorithm>
#include <cassert>
#include <chrono>

namespace hearth::store {

Sequencer::Sequencer(uint64_t next, int64_t last_time_us, Clock clock)
    : next_(next < 1 ? 1 : next), last_time_us_(last_time_us), clock_(std::move(clock)) {
  if (!clock_)
    clock_ = [] {
      return std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
}

Sequencer::Ticket Sequencer::Take() {
  mu_.lock();
  std::lock_guard<std::mutex> lock(read_mu_);
  return Ticket{next_, std::max(last_time_us_, clock_())};
}

void Sequencer::Commit(const Ticket& t) {
  {
    std::lock_guard<std::mutex> lock(read_mu_);
    assert(t.index == next_);
    next_ = t.index + 1;
    last_time_us_ = t.time_us;
  }
  mu_.unlock();
}

void Sequencer::Return(const Ticket& t) {
  (void)t;
  mu_.unlock();
}

void Sequencer::Advance(uint64_t index, int64_t time_us) {
  std::lock_guard<std::mutex> order(mu_);
  std::lock_guard<std::mutex> lock(read_mu_);
  next_ = std::max(next_, index + 1);
  last_time_us_ = std::max(last_time_us_, time_us);
}

uint64_t Sequencer::next() const {
  std::lock_guard<std::mutex> lock(read_mu_);
  return next_;
}

}  // namespace hearth::store

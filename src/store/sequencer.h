#pragma once
// The one order of commits across every database of a data folder. Each
// writer (one per Store: hearth.db and every apps/<site>.db) takes a ticket
// just before it COMMITs and gives it back as committed or returned; the
// ticket holds a lock, so commits that carry an entry are serialised across
// databases for the few microseconds of stamp, append and COMMIT. That is
// what makes the index sequence ordered and gap-free:
//
//   Take()  ──lock──►  index = next, time = max(last time, now)
//     │ COMMIT ok                     │ COMMIT failed
//   Commit(t): next = index + 1     Return(t): next unchanged
//     └──────────unlock──────────────────┘
//
// Commit times never go backwards in index order (a clock stepping back is
// clamped), so "restore to time T" has one answer.
#include <cstdint>
#include <functional>
#include <mutex>

namespace hearth::store {

class Sequencer {
 public:
  struct Ticket {
    uint64_t index = 0;
    int64_t time_us = 0;
  };
  using Clock = std::function<int64_t()>;  // Unix µs

  // `next` is the first index to hand out (1 + the last one any database or
  // log holds); `last_time_us` the commit time of that last one.
  Sequencer(uint64_t next, int64_t last_time_us, Clock clock = nullptr);

  // Locks the sequence and returns the next number; the caller must Commit or
  // Return the ticket on the same thread.
  Ticket Take();
  void Commit(const Ticket& t);
  void Return(const Ticket& t);

  // Moves the sequence past `index`, for entries applied from elsewhere (a
  // restore, a replica): they already carry their numbers.
  void Advance(uint64_t index, int64_t time_us);

  uint64_t next() const;

 private:
  mutable std::mutex mu_;       // held from Take to Commit/Return
  mutable std::mutex read_mu_;  // guards the two values for readers outside a ticket
  uint64_t next_;
  int64_t last_time_us_;
  Clock clock_;
};

}  // namespace hearth::store

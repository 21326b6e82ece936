#pragma once
// TimerLists: deadlines for many objects in O(1), for timeouts where every
// entry on one list got the same duration (a connection's idle or write
// timeout). Each list is then in deadline order by construction, so a sweep
// only looks at list heads and setting a timer is an append. An object is on
// at most one list at a time; it embeds a TimerNode.
#include <cstdint>
#include <vector>

namespace hearth {

struct TimerNode {
  int list = -1;  // which list it is on (-1: none)
  int64_t deadline = 0;
  TimerNode* prev = nullptr;
  TimerNode* next = nullptr;
};

class TimerLists {
 public:
  explicit TimerLists(int count) : lists_(static_cast<size_t>(count)) {}

  // Puts `n` at the tail of `list` (off whatever list it was on). Callers
  // keep each list's durations equal, so the tail is the latest deadline.
  void Set(TimerNode* n, int list, int64_t deadline) {
    Unset(n);
    List& l = lists_[static_cast<size_t>(list)];
    n->list = list;
    n->deadline = deadline;
    n->prev = l.tail;
    if (l.tail)
      l.tail->next = n;
    else
      l.head = n;
    l.tail = n;
  }
  void Unset(TimerNode* n) {
    if (n->list < 0) return;
    List& l = lists_[static_cast<size_t>(n->list)];
    if (n->prev)
      n->prev->next = n->next;
    else
      l.head = n->next;
    if (n->next)
      n->next->prev = n->prev;
    else
      l.tail = n->prev;
    n->prev = n->next = nullptr;
    n->list = -1;
  }
  TimerNode* Head(int list) const { return lists_[static_cast<size_t>(list)].head; }
  int count() const { return static_cast<int>(lists_.size()); }
  // The earliest deadline of any list (0: all empty).
  int64_t Earliest() const {
    int64_t at = 0;
    for (const List& l : lists_)
      if (l.head && (at == 0 || l.head->deadline < at)) at = l.head->deadline;
    return at;
  }

 private:
  struct List {
    TimerNode* head = nullptr;
    TimerNode* tail = nullptr;
  };
  std::vector<List> lists_;
};

}  // namespace hearth

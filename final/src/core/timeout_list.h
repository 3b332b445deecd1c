// The loop's list of the ListedTimeouts of one length (see ioloop.h).
#pragma once

#include "tornado/ioloop.h"

namespace tornado::detail {

// Entries sorted by deadline, in a ring through head_; one loop timer for
// the first deadline. An entry cancelled while first is not taken off the
// timer: the timer fires for nothing and moves on to the next deadline, so
// a cancel never touches the loop's heap.
class TimeoutList {
public:
    TimeoutList(IOLoop& loop, IOLoop::Clock::duration length);
    // At the loop's close: the entries still listed are let go unheard.
    ~TimeoutList();
    TimeoutList(const TimeoutList&) = delete;
    TimeoutList& operator=(const TimeoutList&) = delete;

    IOLoop::Clock::duration length() const noexcept { return length_; }
    bool empty() const noexcept { return head_.next_ == &head_; }
    // Lists `entry` (not on any list) for `deadline`: now + length.
    void add(ListedTimeout& entry, IOLoop::Clock::time_point deadline);

private:
    // The ring's own entry, which never times out.
    struct Head final : ListedTimeout {
        void on_timeout() override {}
    };

    void arm(IOLoop::Clock::time_point when);
    void fire();

    IOLoop& loop_;
    IOLoop::Clock::duration length_;
    Head head_;  // head_.next_: the first deadline; head_.prev_: the last
    IOLoop::Timeout timer_;
    IOLoop::Clock::time_point timer_at_{};
    bool armed_ = false;
};

}  // namespace tornado::detail

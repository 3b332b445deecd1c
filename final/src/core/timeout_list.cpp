// The loop's lists of timeouts of one length (see ioloop.h, ListedTimeout).
#include "core/timeout_list.h"

namespace tornado::detail {

namespace {

// Deadlines are rounded up to a step of kStep: a timeout never runs early,
// at most kStep late, and one started again within the same step keeps
// its deadline (see start_timeout).
constexpr IOLoop::Clock::duration kStep = std::chrono::milliseconds(4);

IOLoop::Clock::time_point deadline_after(IOLoop::Clock::duration length) {
    IOLoop::Clock::duration exact = (IOLoop::time() + length).time_since_epoch();
    return IOLoop::Clock::time_point((exact + kStep - IOLoop::Clock::duration(1)) / kStep * kStep);
}

}  // namespace

// A busy connection starts its timeout again on every request, often
// within one step: then the deadline is the same, and so is the entry's
// place in its list.
void ListedTimeout::start_timeout(IOLoop& loop, IOLoop::Clock::duration length) {
    IOLoop::Clock::time_point deadline = deadline_after(length);
    if (timeout_pending() && deadline_ == deadline) return;
    cancel_timeout();
    if (TimeoutList* list = loop.timeout_list(length)) list->add(*this, deadline);
}

void ListedTimeout::cancel_timeout() noexcept {
    if (next_ == nullptr) return;
    prev_->next_ = next_;
    next_->prev_ = prev_;
    prev_ = next_ = nullptr;
}

TimeoutList::TimeoutList(IOLoop& loop, IOLoop::Clock::duration length)
    : loop_(loop), length_(length) {
    head_.prev_ = head_.next_ = &head_;
}

TimeoutList::~TimeoutList() {
    ListedTimeout* entry = head_.next_;
    while (entry != &head_) {
        ListedTimeout* next = entry->next_;
        entry->prev_ = entry->next_ = nullptr;
        entry = next;
    }
    head_.prev_ = head_.next_ = nullptr;
    if (armed_) loop_.remove_timeout(timer_);
}

// Equal lengths on a clock that never goes back: the new deadline is the
// latest, so the walk back from the end stops at once. It is there so that
// the order holds whatever the clock does.
void TimeoutList::add(ListedTimeout& entry, IOLoop::Clock::time_point deadline) {
    entry.deadline_ = deadline;
    ListedTimeout* before = head_.prev_;
    while (before != &head_ && before->deadline_ > entry.deadline_) before = before->prev_;
    entry.prev_ = before;
    entry.next_ = before->next_;
    before->next_->prev_ = &entry;
    before->next_ = &entry;
    arm(head_.next_->deadline_);
}

// Sets the loop's timer for `when`, unless it is set for then or earlier.
void TimeoutList::arm(IOLoop::Clock::time_point when) {
    if (armed_) {
        if (timer_at_ <= when) return;
        loop_.remove_timeout(timer_);
    }
    timer_ = loop_.call_at(when, [this] { fire(); });
    timer_at_ = when;
    armed_ = true;
}

// The timer fired: each entry now due leaves the list, then hears
// on_timeout (which may list it again, or cancel others). The timer is set
// again for the first deadline left. A list left empty is dropped by the
// loop, which destroys it: the last thing done here.
void TimeoutList::fire() {
    armed_ = false;
    IOLoop::Clock::time_point now = IOLoop::time();
    while (!empty() && head_.next_->deadline_ <= now) {
        ListedTimeout* due = head_.next_;
        due->cancel_timeout();
        due->on_timeout();
    }
    if (!empty()) {
        arm(head_.next_->deadline_);
        return;
    }
    loop_.drop_timeout_list(this);
}

}  // namespace tornado::detail

// ioloop.cpp: see ioloop.h for the contract.
//
// EXERCISE: the bodies marked TODO(task N) are yours to write (tasks 1 to 3
// of exercises/03-epoll-ioloop/README.md). Everything else is given: read
// start(), run_callbacks() and poll_timeout_ms() first, they call yours.
#include "ioloop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace course {

namespace {

// The loop running or made first on this thread (see IOLoop::current).
thread_local IOLoop* t_current_loop = nullptr;

// Tornado logs an exception from a callback and goes on: one bad handler
// must not take the whole server down.
template <typename Function>
void run_guarded(const char* what, Function&& function) {
    try {
        function();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "IOLoop: exception in %s: %s\n", what, error.what());
    } catch (...) {
        std::fprintf(stderr, "IOLoop: unknown exception in %s\n", what);
    }
}

// "epoll_ctl ADD fd 7: File exists". errno is saved first: building the
// message allocates, and the allocator may overwrite errno.
[[maybe_unused]] [[noreturn]] void throw_epoll_ctl_error(const char* operation, int fd) {
    int error = errno;
    throw std::system_error(error, std::generic_category(),
                            std::string("epoll_ctl ") + operation + " fd " + std::to_string(fd));
}

}  // namespace

IOLoop::IOLoop()
    : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      ready_events_(kMaxEventsPerPoll) {
    if (!epoll_fd_) throw_errno("epoll_create1");
    if (!wake_fd_) throw_errno("eventfd");
    // The wake-up descriptor is watched like any other: every loop needs
    // add_handler (task 1) before it can do anything at all.
    add_handler(wake_fd_.get(), [this](int, std::uint32_t) { drain_wake_fd(); }, READ);
    if (t_current_loop == nullptr) t_current_loop = this;
}

IOLoop::~IOLoop() {
    if (t_current_loop == this) t_current_loop = nullptr;
}

IOLoop& IOLoop::current() {
    if (t_current_loop == nullptr) {
        // Made on first use and owned by the thread; its constructor makes
        // it the current loop.
        static thread_local std::unique_ptr<IOLoop> thread_loop;
        thread_loop = std::make_unique<IOLoop>();
    }
    return *t_current_loop;
}

// --- descriptors -----------------------------------------------------------

void IOLoop::add_handler([[maybe_unused]] int fd, [[maybe_unused]] Handler handler,
                         [[maybe_unused]] std::uint32_t events) {
    // TODO(task 1): register fd with epoll (EPOLL_CTL_ADD) for `events | ERROR`,
    // with event.data.fd = fd so that epoll_wait tells you whose event it is;
    // on failure throw_epoll_ctl_error("ADD", fd). Then keep the handler in
    // handlers_[fd], as a shared_ptr (see poll_and_dispatch for why).
    throw std::logic_error("TODO(task 1): IOLoop::add_handler");
}

void IOLoop::update_handler([[maybe_unused]] int fd, [[maybe_unused]] std::uint32_t events) {
    // TODO(task 1): the same epoll_event, with EPOLL_CTL_MOD.
    throw std::logic_error("TODO(task 1): IOLoop::update_handler");
}

void IOLoop::remove_handler([[maybe_unused]] int fd) {
    // TODO(task 1): forget fd's handler (nothing to do if it has none) and
    // EPOLL_CTL_DEL it (ignore a failure: a closed fd has left the set
    // already). Then blank (data.fd = -1) any event for fd still ahead in
    // the batch being dispatched, ready_events_[next_ready_ .. ready_count_):
    // fd is about to be closed, and its number may come back from accept()
    // for a new connection in this very batch.
    throw std::logic_error("TODO(task 1): IOLoop::remove_handler");
}

// --- callbacks and timeouts ---------------------------------------------------

void IOLoop::add_callback([[maybe_unused]] Callback callback) {
    // TODO(task 2): append callback to callbacks_ under callbacks_mutex_
    // (any thread may call this). Then, unless we are on the loop's own
    // thread (on_loop_thread()), wake() the loop: it may be asleep in
    // epoll_wait with no deadline, and would not see the callback until
    // some descriptor happened to become ready.
    throw std::logic_error("TODO(task 2): IOLoop::add_callback");
}

IOLoop::Timeout IOLoop::call_later(Clock::duration delay, Callback callback) {
    return call_at(Clock::now() + delay, std::move(callback));
}

IOLoop::Timeout IOLoop::call_at([[maybe_unused]] Clock::time_point when,
                                [[maybe_unused]] Callback callback) {
    // TODO(task 3): take the next id (next_timer_id_++), push {when, id} on
    // timer_heap_, keep the callback in timer_callbacks_[id], return Timeout{id}.
    throw std::logic_error("TODO(task 3): IOLoop::call_at");
}

void IOLoop::remove_timeout([[maybe_unused]] Timeout timeout) {
    // TODO(task 3): lazy deletion. Erase the id's callback from
    // timer_callbacks_ and leave the heap alone (its entry is skipped when
    // it surfaces). Only if something was erased: count it in
    // cancelled_timers_ and call compact_timer_heap().
    throw std::logic_error("TODO(task 3): IOLoop::remove_timeout");
}

void IOLoop::compact_timer_heap() {
    // Lazy deletion leaves cancelled entries in the heap. A server that sets
    // and cancels a timeout per request would grow it without end, so once
    // most of it is dead, rebuild it from the live entries (O(n), rarely).
    if (cancelled_timers_ < 512 || cancelled_timers_ * 2 < timer_heap_.size()) return;
    std::vector<TimerEntry> live;
    while (!timer_heap_.empty()) {
        if (timer_callbacks_.count(timer_heap_.top().id)) live.push_back(timer_heap_.top());
        timer_heap_.pop();
    }
    timer_heap_ = decltype(timer_heap_)(std::greater<>(), std::move(live));
    cancelled_timers_ = 0;
}

// --- the loop ------------------------------------------------------------------

void IOLoop::start() {
    std::thread::id not_running;
    if (!loop_thread_.compare_exchange_strong(not_running, std::this_thread::get_id())) {
        throw std::logic_error("IOLoop::start: the loop is already running");
    }
    IOLoop* previous = std::exchange(t_current_loop, this);
    // However start() ends (stop(), or an exception from epoll_wait), leave
    // the loop restartable and the thread's current loop as it was.
    auto finish = [&] {
        stopping_ = false;
        loop_thread_ = std::thread::id();
        t_current_loop = previous;
    };
    try {
        while (!stopping_) {
            run_callbacks();
            run_due_timeouts();
            if (stopping_) break;
            poll_and_dispatch(poll_timeout_ms());
        }
    } catch (...) {
        finish();
        throw;
    }
    finish();
}

void IOLoop::stop() {
    stopping_ = true;
    // On the loop's thread we are inside a callback or handler, and start()
    // checks stopping_ before it sleeps again; another thread must wake it.
    if (!on_loop_thread()) wake();
}

void IOLoop::run_callbacks() {
    // Take the whole list first: a callback that adds a callback gets it run
    // on the next turn, after I/O has had its chance (no starvation).
    std::vector<Callback> ready;
    {
        std::lock_guard lock(callbacks_mutex_);
        ready.swap(callbacks_);
    }
    for (Callback& callback : ready) run_guarded("callback", callback);
}

void IOLoop::run_due_timeouts() {
    if (timer_heap_.empty()) return;  // nothing scheduled: nothing to do
    // TODO(task 3): pop and run every timeout that is due, in heap order.
    //  - Due means when <= now, with now read once before the loop.
    //  - Run only timeouts that existed when this call began (ids up to
    //    next_timer_id_ - 1): one that a timeout sets for "now" or the past
    //    waits for the next turn, or it could starve I/O forever.
    //  - An entry whose callback is gone was cancelled: --cancelled_timers_
    //    and skip it.
    //  - One at a time: move the callback out of timer_callbacks_, erase it,
    //    then run it with run_guarded("timeout", callback). A timeout may
    //    cancel another that is also due; that one must then not run.
    throw std::logic_error("TODO(task 3): IOLoop::run_due_timeouts");
}

int IOLoop::poll_timeout_ms() {
    {
        std::lock_guard lock(callbacks_mutex_);
        if (!callbacks_.empty()) return 0;  // work is waiting: do not sleep
    }
    // Skip cancelled entries so that they do not wake us for nothing.
    while (!timer_heap_.empty() && !timer_callbacks_.count(timer_heap_.top().id)) {
        timer_heap_.pop();
        --cancelled_timers_;
    }
    if (timer_heap_.empty()) return -1;  // nothing scheduled: wait for I/O
    auto wait = timer_heap_.top().when - Clock::now();
    if (wait <= Clock::duration::zero()) return 0;
    // Round up: waking a little early would just spin a turn for nothing.
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
    return static_cast<int>(std::min<long long>(ms, 24 * 3600 * 1000));
}

void IOLoop::poll_and_dispatch([[maybe_unused]] int timeout_ms) {
    // TODO(task 1): one epoll_wait into ready_events_ (at most
    // kMaxEventsPerPoll), waiting at most timeout_ms (-1: no limit).
    //  - EINTR: a signal interrupted the wait; just return. Other errors:
    //    throw_errno("epoll_wait").
    //  - Keep the count in ready_count_ and walk the batch with next_ready_,
    //    advancing it *before* each call (remove_handler blanks events from
    //    next_ready_ on). Reset both to 0 when done.
    //  - Look each fd up in handlers_ now (an earlier handler may have
    //    removed it: then skip it), copy the shared_ptr so the handler
    //    outlives its own removal, and call it with the fd and the events
    //    through run_guarded("handler", ...).
    throw std::logic_error("TODO(task 1): IOLoop::poll_and_dispatch");
}

void IOLoop::wake() {
    // TODO(task 2): write an 8-byte 1 to wake_fd_. That makes the eventfd
    // readable, and epoll_wait returns. Ignore the result: the counter only
    // needs to be non-zero (EAGAIN means it is full: the loop wakes anyway).
    throw std::logic_error("TODO(task 2): IOLoop::wake");
}

void IOLoop::drain_wake_fd() {
    // TODO(task 2): read the 8-byte counter from wake_fd_, which resets it to
    // zero (otherwise it stays readable and the loop never sleeps again).
    throw std::logic_error("TODO(task 2): IOLoop::drain_wake_fd");
}

bool IOLoop::on_loop_thread() const {
    return loop_thread_.load() == std::this_thread::get_id();
}

}  // namespace course

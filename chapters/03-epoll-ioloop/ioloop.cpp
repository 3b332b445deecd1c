// ioloop.cpp: see ioloop.h for the contract.
#include "ioloop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "trace.h"

namespace course {

namespace {

// The loop running or made first on this thread (see IOLoop::current).
thread_local IOLoop* t_current_loop = nullptr;

// compact_timer_heap() rebuilds the heap only once this many of its
// entries are dead (and at least half of it is). The "half" rule alone
// would rebuild a small heap over and over (two timeouts, one cancelled:
// rebuild); fewer dead entries than this (16 bytes each, 8 KB in all) are
// not worth an O(n) rebuild. The number is Tornado's (its IOLoop up to 4.x).
constexpr std::size_t kMinDeadTimersToCompact = 512;

// The longest a turn sleeps in epoll_wait: a day. Its timeout is an int of
// milliseconds, which a far-off timeout (call_later of a month) would
// overflow; well below that limit (24.8 days), a loop with nothing sooner
// just wakes once a day and works the wait out again.
constexpr std::chrono::milliseconds kLongestPollWait = std::chrono::hours(24);

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
[[noreturn]] void throw_epoll_ctl_error(const char* operation, int fd) {
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

void IOLoop::add_handler(int fd, Handler handler, std::uint32_t events) {
    // trace::traced: the handler itself, or when tracing one that records
    // each call as a bar (trace.h). So do add_callback and call_at.
    auto shared = std::make_shared<Handler>(trace::traced("handler", std::move(handler)));
    epoll_event event{};
    event.events = events | ERROR;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) < 0) {
        throw_epoll_ctl_error("ADD", fd);
    }
    handlers_[fd] = std::move(shared);
}

void IOLoop::update_handler(int fd, std::uint32_t events) {
    epoll_event event{};
    event.events = events | ERROR;
    event.data.fd = fd;
    // MOD also re-arms an edge-triggered fd: if it is ready now, the next
    // epoll_wait reports it, even though no new edge came.
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &event) < 0) {
        throw_epoll_ctl_error("MOD", fd);
    }
}

void IOLoop::remove_handler(int fd) {
    if (handlers_.erase(fd) == 0) return;
    // Failure is harmless here (the descriptor may already be closed, which
    // removes it from the epoll set anyway), so it is not an error.
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
    // The batch being dispatched may still hold an event for fd. Drop it:
    // the caller is about to close fd, and accept() may hand out the same
    // number for a new connection within this very batch, whose handler
    // must not get the old connection's event (a hang-up, say).
    for (int i = next_ready_; i < ready_count_; ++i) {
        if (ready_events_[i].data.fd == fd) ready_events_[i].data.fd = -1;
    }
}

// --- callbacks and timeouts ---------------------------------------------------

void IOLoop::add_callback(Callback callback) {
    callback = trace::traced("callback", std::move(callback));
    {
        std::lock_guard lock(callbacks_mutex_);
        callbacks_.push_back(std::move(callback));
    }
    // On the loop's own thread the loop is not inside epoll_wait (we are
    // running one of its callbacks), and the next turn sees the new
    // callback. Any other thread must wake it.
    if (!on_loop_thread()) wake();
}

IOLoop::Timeout IOLoop::call_later(Clock::duration delay, Callback callback) {
    return call_at(Clock::now() + delay, std::move(callback));
}

IOLoop::Timeout IOLoop::call_at(Clock::time_point when, Callback callback) {
    std::uint64_t id = next_timer_id_++;
    timer_heap_.push({when, id});
    timer_callbacks_.emplace(id, trace::traced("timeout", std::move(callback)));
    return Timeout{id};
}

void IOLoop::remove_timeout(Timeout timeout) {
    if (timer_callbacks_.erase(timeout.id) == 0) return;  // ran already, or never was
    ++cancelled_timers_;
    compact_timer_heap();
}

void IOLoop::compact_timer_heap() {
    // Lazy deletion leaves cancelled entries in the heap. A server that sets
    // and cancels a timeout per request would grow it without end, so once
    // most of it is dead, rebuild it from the live entries (O(n), rarely).
    if (cancelled_timers_ < kMinDeadTimersToCompact || cancelled_timers_ * 2 < timer_heap_.size()) {
        return;
    }
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
        trace::write();  // TORNADO_TRACE: the file has every turn so far
        stopping_ = false;
        loop_thread_ = std::thread::id();
        t_current_loop = previous;
    };
    try {
        while (!stopping_) {
            ++turns_;
            trace::Span turn_bar("turn");  // when tracing: a bar around the whole turn
            trace::counter("descriptors watched", static_cast<long>(handlers_.size()));
            trace::counter("timeouts pending", static_cast<long>(timer_callbacks_.size()));
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
    // Only timeouts that existed when this turn began: one that a timeout
    // sets for "now" (or the past) runs next turn, so a timeout that keeps
    // re-arming itself cannot starve I/O.
    const Clock::time_point now = Clock::now();
    const std::uint64_t newest_id = next_timer_id_ - 1;
    while (!timer_heap_.empty() && timer_heap_.top().when <= now &&
           timer_heap_.top().id <= newest_id) {
        std::uint64_t id = timer_heap_.top().id;
        timer_heap_.pop();
        auto found = timer_callbacks_.find(id);
        if (found == timer_callbacks_.end()) {
            --cancelled_timers_;  // cancelled: its entry surfaced at last
            continue;
        }
        // One at a time, each looked up just before it runs: a timeout may
        // cancel another one that is also due, and that one must not run.
        Callback callback = std::move(found->second);
        timer_callbacks_.erase(found);
        run_guarded("timeout", callback);
    }
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
    return static_cast<int>(std::min<long long>(ms, kLongestPollWait.count()));
}

void IOLoop::poll_and_dispatch(int timeout_ms) {
    trace::Span poll_bar("poll");
    int ready = ::epoll_wait(epoll_fd_.get(), ready_events_.data(), kMaxEventsPerPoll, timeout_ms);
    if (ready < 0) {
        if (errno == EINTR) return;  // a signal arrived; just go round again
        throw_errno("epoll_wait");
    }
    poll_bar.end("ready", ready);  // the wait's bar ends before the handlers' begin
    ready_count_ = ready;
    for (next_ready_ = 0; next_ready_ < ready_count_;) {
        // Copy the event and advance first: remove_handler() blanks events
        // from next_ready_ on.
        epoll_event event = ready_events_[next_ready_++];
        // An earlier handler in this batch may have removed this one, so
        // look it up now rather than trusting the batch.
        auto found = handlers_.find(event.data.fd);
        if (found == handlers_.end()) continue;
        std::shared_ptr<Handler> handler = found->second;  // keeps it alive while it runs
        run_guarded("handler", [&] { (*handler)(event.data.fd, event.events); });
    }
    ready_count_ = next_ready_ = 0;
}

void IOLoop::wake() {
    std::uint64_t one = 1;
    // The counter only ever needs to be non-zero; EAGAIN (counter full)
    // means the loop is already due to wake.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

void IOLoop::drain_wake_fd() {
    // One read resets an eventfd's counter to zero, however many wake()s
    // added to it: one wake-up per turn, not one per callback.
    std::uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(wake_fd_.get(), &count, sizeof count);
}

bool IOLoop::on_loop_thread() const {
    return loop_thread_.load() == std::this_thread::get_id();
}

}  // namespace course

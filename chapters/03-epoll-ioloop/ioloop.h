// ioloop.h: an event loop over Linux epoll, the heart of every later chapter.
//
// One thread runs IOLoop::start(). Each turn of the loop it
//
//   1. runs the callbacks queued with add_callback (from any thread);
//   2. runs the timeouts that are due (call_later / call_at);
//   3. asks epoll which descriptors are ready, waiting at most until the
//      next timeout, and calls each ready descriptor's handler.
//
//        add_callback ──► [callbacks] ─┐
//        call_later ────► [timer heap]─┼─► start(): one turn ... repeat
//        add_handler ───► [epoll set] ─┘            until stop()
//
// Handlers and callbacks must not block: while one runs, nothing else does.
// That single rule is what the whole course is about.
//
// Threads: everything here must be called on the loop's own thread (or
// before the loop starts), except add_callback() and stop(), which any
// thread may call (they wake the loop through an eventfd). This is
// Tornado's contract too. Neither is safe in a signal handler: watch a
// signalfd with add_handler instead (see server_main.cpp).
//
// Errors: an exception that escapes a handler, callback or timeout is
// printed to stderr and the loop goes on, as Tornado does; one bad handler
// must not take a whole server down.
//
// Tracing: run a program with TORNADO_TRACE=/tmp/t.json and the loop
// records each turn, each wait and each function it runs, and writes them
// to that file when start() returns (trace.h; the README's "See the loop").
//
// Example:
//
//   IOLoop loop;
//   loop.call_later(std::chrono::seconds(1), [&] { std::puts("tick"); loop.stop(); });
//   loop.start();
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>
#include <vector>

#include "socket.h"

namespace course {

class IOLoop {
public:
    // Events a handler can ask for and receive. ERROR (hang-up or socket
    // error) is always reported, whether asked for or not.
    static constexpr std::uint32_t READ = EPOLLIN;
    static constexpr std::uint32_t WRITE = EPOLLOUT;
    static constexpr std::uint32_t ERROR = EPOLLERR | EPOLLHUP;
    // Edge-triggered mode: report readiness once per change instead of as
    // long as it lasts. See the chapter README (and exercise task 4).
    static constexpr std::uint32_t EDGE = EPOLLET;

    using Clock = std::chrono::steady_clock;
    using Handler = std::function<void(int fd, std::uint32_t events)>;
    using Callback = std::function<void()>;

    // Names a pending timeout, for remove_timeout().
    struct Timeout {
        std::uint64_t id = 0;
    };

    IOLoop();
    ~IOLoop();
    IOLoop(const IOLoop&) = delete;
    IOLoop& operator=(const IOLoop&) = delete;

    // The loop of the calling thread: the one running start() here, else the
    // loop that became current when it was made (a new loop becomes current
    // if its thread has none), else a new one owned by the thread.
    // Tornado's IOLoop.current().
    static IOLoop& current();

    // Calls handler(fd, events) whenever fd is ready for `events`. One
    // handler per descriptor: adding a second one for fd throws.
    void add_handler(int fd, Handler handler, std::uint32_t events);
    // Changes which events fd's handler wants (for example WRITE only while
    // there is output to send). `events` replaces the old set: pass EDGE
    // again if the handler uses it. Throws std::system_error for an fd that
    // has no handler (a bug in the caller: it was never added, or removed).
    void update_handler(int fd, std::uint32_t events);
    // Stops watching fd; an event for fd already fetched in this turn is
    // dropped too. Call it before closing fd. A handler may remove itself.
    void remove_handler(int fd);

    // Runs callback on the loop's thread at the next turn. Safe from any
    // thread: this is how other threads hand work to the loop.
    void add_callback(Callback callback);

    // Runs callback once, after `delay` / at `when`. Equal deadlines run in
    // the order they were set.
    Timeout call_later(Clock::duration delay, Callback callback);
    Timeout call_at(Clock::time_point when, Callback callback);
    // Cancels a timeout that has not run yet (no effect if it has), even
    // one that is due in the same turn as the timeout cancelling it.
    void remove_timeout(Timeout timeout);

    // Entries in the timer heap, cancelled ones not yet reclaimed included.
    // For tests and monitoring: a server that sets and cancels a timeout per
    // request must see this stay bounded, not grow with every request.
    std::size_t timer_heap_size() const { return timer_heap_.size(); }
    // How many of those entries are dead (cancelled, not yet reclaimed): the
    // count compact_timer_heap() trusts. For tests: it must equal the dead
    // entries exactly, or the heap is rebuilt too rarely or too often.
    std::size_t cancelled_timer_count() const { return cancelled_timers_; }

    // How many times start() has gone round its loop. For tests: a loop
    // with nothing to do must sleep, so this barely moves while it is idle;
    // a loop that spins (an eventfd never drained, WRITE asked for with
    // nothing to write) adds thousands a second. Read it on the loop's
    // thread or after start() returned.
    std::uint64_t turns() const { return turns_; }

    // The loop's clock (monotonic: never jumps when the wall clock is set).
    static Clock::time_point time() { return Clock::now(); }

    // Runs the loop on the calling thread until stop() is called. Throws
    // std::logic_error if the loop is already running.
    void start();
    // Makes start() return after the current turn. Safe from any thread. If
    // the loop is not running, the next start() returns at once.
    void stop();

private:
    struct TimerEntry {
        Clock::time_point when;
        std::uint64_t id;  // also breaks ties: equal deadlines run in order
        bool operator>(const TimerEntry& other) const {
            return when != other.when ? when > other.when : id > other.id;
        }
    };

    // Up to this many ready descriptors per epoll_wait; more just wait a turn.
    static constexpr int kMaxEventsPerPoll = 1024;

    void run_callbacks();
    void run_due_timeouts();
    int poll_timeout_ms();
    void poll_and_dispatch(int timeout_ms);
    void wake();
    void drain_wake_fd();
    void compact_timer_heap();
    bool on_loop_thread() const;

    FileDescriptor epoll_fd_;
    FileDescriptor wake_fd_;  // an eventfd: writing to it ends epoll_wait

    // Handlers are shared_ptrs so that one can be removed (even by itself)
    // while it runs: dispatch holds a copy of the pointer until it returns.
    std::unordered_map<int, std::shared_ptr<Handler>> handlers_;

    // The batch epoll_wait returned, and the next event of it to dispatch.
    // remove_handler() blanks an event for its fd still ahead in the batch.
    std::vector<epoll_event> ready_events_;
    int ready_count_ = 0;
    int next_ready_ = 0;

    std::mutex callbacks_mutex_;  // guards callbacks_ (any thread adds)
    std::vector<Callback> callbacks_;

    // Timeouts: a min-heap of (when, id); the callbacks live in a map so that
    // remove_timeout is O(1): the heap entry stays until it surfaces and is
    // skipped ("lazy deletion", as Tornado does).
    std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timer_heap_;
    std::unordered_map<std::uint64_t, Callback> timer_callbacks_;
    std::uint64_t next_timer_id_ = 1;
    std::size_t cancelled_timers_ = 0;  // heap entries whose callback is gone

    std::atomic<bool> stopping_{false};
    std::atomic<std::thread::id> loop_thread_{};  // set while start() runs
    std::uint64_t turns_ = 0;                     // see turns()
};

}  // namespace course

// tornado/locks.h: Condition, Event, Semaphore, BoundedSemaphore and Lock
// for coroutines that share one loop.
//
// They look like the threading primitives, but nothing here blocks a
// thread: waiting means getting a Future that a later notify(), set() or
// release() resolves, and co_await-ing it. Only coroutines on the same loop
// thread can use them; they take no mutex (Tornado's tornado.locks).
//
// What all of them share:
//
//   * waiters are served first come, first served;
//   * every wait takes an optional timeout, either a duration from now or a
//     time point on the loop's clock (Deadline). A Condition's wait then
//     resolves to false; every other wait fails with TimeoutError;
//   * a wait that timed out, or whose Future was cancelled, is done already,
//     so the next notify() or release() passes it over and serves the next
//     waiter in line: nothing is handed to a waiter that can no longer take it.
//
// Example: at most two fetches at a time.
//
//   tornado::Semaphore slots(2);
//
//   tornado::Task<std::string> polite_fetch(std::string url) {
//       auto slot = co_await slots.acquire();   // waits while two are running
//       co_return co_await fetch(url);          // `slot` releases at scope end
//   }
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"
#include "tornado/util.h"

namespace tornado {

// When a wait gives up: a time point on the loop's clock, or a duration
// counted from now, as with_timeout takes it (Tornado's `timeout` argument,
// an absolute time or a timedelta). Converts implicitly, so `wait(50ms)` and
// `wait(IOLoop::time() + 1s)` both read naturally.
struct Deadline {
    Deadline(IOLoop::Clock::time_point deadline) : when(deadline) {}  // NOLINT: implicit on purpose
    template <typename Rep, typename Period>
    Deadline(std::chrono::duration<Rep, Period> timeout)  // NOLINT: implicit on purpose
        : when(IOLoop::time() + std::chrono::ceil<IOLoop::Clock::duration>(timeout)) {}

    IOLoop::Clock::time_point when;
};

namespace detail {

// A line of waiters: Futures, or anything else with done(). First come,
// first served. A waiter that timed out or was cancelled stays in the line
// until its turn comes, and is then passed over (as Tornado does); a sweep
// now and then drops such waiters early, so that a loop of short waits that
// keep timing out does not grow the line without end.
template <typename Waiter>
class WaiterQueue {
public:
    void push(Waiter waiter) {
        if (waiters_.size() >= sweep_at_) sweep();
        waiters_.push_back(std::move(waiter));
    }

    // Takes the first waiter still pending out of the line; nullopt if none.
    std::optional<Waiter> pop_pending() {
        while (!waiters_.empty()) {
            Waiter first = std::move(waiters_.front());
            waiters_.pop_front();
            if (!first.done()) return first;
        }
        return std::nullopt;
    }

    // Waiters in the line, counting those that will be passed over.
    std::size_t size() const noexcept { return waiters_.size(); }

private:
    static constexpr std::size_t kFirstSweep = 64;

    void sweep() {
        std::erase_if(waiters_, [](const Waiter& waiter) { return waiter.done(); });
        // The next sweep waits until the line has doubled, so sweeping costs
        // O(1) per push however long the line gets.
        sweep_at_ = std::max(kFirstSweep, 2 * waiters_.size());
    }

    std::deque<Waiter> waiters_;
    std::size_t sweep_at_ = kFirstSweep;
};

// Calls on_timeout(waiter) at `deadline` if the waiter is still pending
// then; the timer goes as soon as the waiter is done some other way. The
// timeout acts on the waiter itself, not on a second Future wrapped around
// it (as with_timeout would): so the waiter cannot be served after its
// caller has been told it timed out.
template <typename T, typename OnTimeout>
void on_deadline(const std::optional<Deadline>& deadline, const Future<T>& waiter,
                 OnTimeout on_timeout) {
    if (!deadline) return;
    IOLoop& loop = IOLoop::current();
    IOLoop::Timeout timer = loop.call_at(deadline->when, [waiter, on_timeout]() mutable {
        if (!waiter.done()) on_timeout(waiter);
    });
    waiter.add_done_callback([&loop, timer] { loop.remove_timeout(timer); });
}

// The usual timeout: the waiter fails with TimeoutError.
template <typename T>
void fail_at(const std::optional<Deadline>& deadline, const Future<T>& waiter) {
    on_deadline(deadline, waiter,
                [](const Future<T>& late) { late.set_exception(TimeoutError("Timeout")); });
}

}  // namespace detail

// Lets coroutines wait until another one notifies them (Tornado's
// Condition; like std::condition_variable, minus the mutex: on one loop
// thread there is no data race to guard against).
//
//   Task<void> consumer() { while (!ready) co_await condition.wait(); ... }
//   void producer() { ready = true; condition.notify_all(); }
class Condition {
public:
    Condition() = default;
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;

    // Resolves to true when notified, or false once `timeout` has passed.
    Future<bool> wait(std::optional<Deadline> timeout = std::nullopt);
    // Wakes the first `n` waiters still waiting. They run at the loop's next
    // turn, never inside notify().
    void notify(std::size_t n = 1);
    // Wakes every waiter waiting now, as notify() does.
    void notify_all();

private:
    detail::WaiterQueue<Future<bool>> waiters_;
};

// A flag coroutines can wait for (Tornado's Event, like threading.Event).
// While it is set, wait() returns a Future that is done already.
class Event {
public:
    Event() = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    bool is_set() const noexcept { return set_; }
    // Sets the flag and wakes every waiter.
    void set();
    // Clears the flag: the next wait() waits for the next set().
    void clear() noexcept { set_ = false; }
    // Done once the flag is set; fails with TimeoutError after `timeout`.
    Future<void> wait(std::optional<Deadline> timeout = std::nullopt);

private:
    bool set_ = false;
    detail::WaiterQueue<Future<void>> waiters_;
};

class Semaphore;

// What Semaphore::acquire and Lock::acquire resolve to: it releases what
// was acquired exactly once, when it goes out of scope (or at release()),
// so an exception cannot leak a slot. Tornado's `with (yield sem.acquire()):`
// becomes
//
//   auto guard = co_await semaphore.acquire();
//
// Keep the guard in a named variable: `co_await semaphore.acquire();` on its
// own drops the guard, and with it the slot, at once. The semaphore must
// outlive its guards.
class ReleasingGuard {
public:
    ReleasingGuard() = default;  // holds nothing
    explicit ReleasingGuard(Semaphore& semaphore) noexcept : semaphore_(&semaphore) {}
    ReleasingGuard(ReleasingGuard&& other) noexcept
        : semaphore_(std::exchange(other.semaphore_, nullptr)) {}
    ReleasingGuard& operator=(ReleasingGuard&& other) noexcept;
    ~ReleasingGuard();

    // Releases now rather than at the end of the scope; then does nothing.
    void release();
    // Whether it still has something to release.
    bool owns() const noexcept { return semaphore_ != nullptr; }

private:
    Semaphore* semaphore_ = nullptr;
};

// A counter of free slots (Tornado's Semaphore). acquire() takes one,
// waiting while there is none; release() gives one back and hands it to
// the first waiter, if any. Throws std::invalid_argument for a negative
// start value.
class Semaphore {
public:
    explicit Semaphore(int value = 1);
    virtual ~Semaphore() = default;
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    // Resolves to a guard holding one slot; fails with TimeoutError if no
    // slot comes free before `timeout`.
    Future<ReleasingGuard> acquire(std::optional<Deadline> timeout = std::nullopt);
    // Gives a slot back. A guard calls it for you.
    virtual void release();
    // Free slots now (what Tornado's repr shows).
    int value() const noexcept { return value_; }

private:
    int value_;
    detail::WaiterQueue<Future<ReleasingGuard>> waiters_;
};

// A Semaphore that throws std::logic_error when released more often than
// acquired (Tornado's BoundedSemaphore raises ValueError): with a resource
// of fixed size, that is a bug.
class BoundedSemaphore : public Semaphore {
public:
    explicit BoundedSemaphore(int value = 1) : Semaphore(value), initial_value_(value) {}
    void release() override;

private:
    int initial_value_;
};

// A lock for coroutines (Tornado's Lock): one holder at a time, the others
// wait in line. Hold it with the guard acquire() resolves to:
//
//   auto held = co_await lock.acquire();   // unlocked at the end of the scope
class Lock {
public:
    Lock() = default;
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    // Resolves to a guard that holds the lock; fails with TimeoutError if
    // the lock is not free before `timeout`.
    Future<ReleasingGuard> acquire(std::optional<Deadline> timeout = std::nullopt) {
        return block_.acquire(timeout);
    }
    // Unlocks; the first waiter in line gets the lock. Throws
    // std::logic_error if the lock is not held (Tornado: RuntimeError).
    void release();

private:
    BoundedSemaphore block_{1};
};

}  // namespace tornado

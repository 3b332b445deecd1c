// periodic_callback.h: a callback the loop runs every `period`. Tornado's
// tornado.ioloop.PeriodicCallback.
//
//   PeriodicCallback heartbeat(loop, [] { log("still here"); }, 1s);
//   heartbeat.start();          // first call one period from now
//   ...
//   heartbeat.stop();           // no call after this (also from inside one)
//
// Built on the loop's call_at / remove_timeout: each run schedules the
// next. The rules, which the tests check:
//
// * Fixed rate, not fixed delay: the calls are due at start + period,
//   start + 2 * period, ..., whatever each call takes. A callback that
//   takes 3 ms of a 10 ms period does not push every later call 3 ms back.
//
//     due:     |0        |10       |20       |30       |40
//     run:       ███       ███       ███       ███          (no drift)
//
// * A call that overran skips the ticks it missed, it does not catch up
//   with a burst: after a 35 ms call on a 10 ms period started at 0, the
//   next is due at 40, not at 10, 20 and 30 at once (Tornado does the same).
// * stop() cancels the pending call; from inside the callback it prevents
//   the next one. start() on a running PeriodicCallback does nothing; start()
//   after stop() starts again, one period from then. Never two timers: not
//   even after stop() and start() from inside the callback, where start()
//   has scheduled the next call already.
// * is_running() is true from start() until stop(), inside the callback too.
// * An exception from the callback is reported by the loop (run_guarded),
//   and the calls go on, as in Tornado.
// * The destructor stops it: the loop never calls into a destroyed object.
// * A period that is not positive is refused (std::invalid_argument).
// * Not thread-safe: use it on the loop's thread, like the loop's timers.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <utility>

#include "ioloop.h"

namespace course {

// EXTENSION (task 5): the chapter's code does not have this; you build it
// on the loop's public timer calls (call_at, remove_timeout, time()). The
// members below are a suggestion: keep the public interface, change the
// private part as you like.
class PeriodicCallback {
public:
    PeriodicCallback(IOLoop& loop, IOLoop::Callback callback, IOLoop::Clock::duration period)
        : loop_(loop), callback_(std::move(callback)), period_(period) {
        // TODO(task 5): refuse a period that is not positive.
    }
    ~PeriodicCallback() { stop(); }
    PeriodicCallback(const PeriodicCallback&) = delete;
    PeriodicCallback& operator=(const PeriodicCallback&) = delete;

    // The first call comes one period from now.
    void start() {
        // TODO(task 5): the rules at the top of this file are the contract.
        // Hint: make hint CH=03 TASK=5.
        throw std::logic_error("TODO(task 5): PeriodicCallback::start");
    }

    void stop() {
        // TODO(task 5): must not throw (the destructor calls it).
    }

    bool is_running() const {
        // TODO(task 5)
        throw std::logic_error("TODO(task 5): PeriodicCallback::is_running");
    }

private:
    IOLoop& loop_;
    IOLoop::Callback callback_;
    IOLoop::Clock::duration period_;
};

}  // namespace course

// periodic_callback.h: a callback the loop runs every `period`. Tornado's
// tornado.ioloop.PeriodicCallback.
//
// Extension task 5 of exercise 03, written out: the reference solution.
// The learner's copy is exercises/03-epoll-ioloop/periodic_callback.h.
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

class PeriodicCallback {
public:
    PeriodicCallback(IOLoop& loop, IOLoop::Callback callback, IOLoop::Clock::duration period)
        : loop_(loop), callback_(std::move(callback)), period_(period) {
        if (period <= IOLoop::Clock::duration::zero()) {
            throw std::invalid_argument("PeriodicCallback: the period must be positive");
        }
    }
    ~PeriodicCallback() { stop(); }
    PeriodicCallback(const PeriodicCallback&) = delete;
    PeriodicCallback& operator=(const PeriodicCallback&) = delete;

    // The first call comes one period from now.
    void start() {
        if (running_) return;
        running_ = true;
        next_due_ = IOLoop::time();
        schedule_next();
    }

    void stop() {
        running_ = false;
        if (pending_) loop_.remove_timeout(*pending_);
        pending_.reset();
    }

    bool is_running() const { return running_; }

private:
    // Runs only while running: stop() removes the pending timeout.
    void run() {
        pending_.reset();  // this timeout has fired: nothing to cancel now
        try {
            callback_();
        } catch (...) {
            // Schedule the next call before the loop reports the exception.
            if (running_ && !pending_) schedule_next();
            throw;
        }
        // Not if the callback stopped us, nor if it stopped and started us
        // again: start() has scheduled the next call of its new grid.
        if (running_ && !pending_) schedule_next();
    }

    // The next due time on the grid start + k * period that lies in the
    // future: ticks missed while a call overran are skipped.
    void schedule_next() {
        auto now = IOLoop::time();
        next_due_ += period_;
        if (next_due_ <= now) next_due_ += ((now - next_due_) / period_ + 1) * period_;
        pending_ = loop_.call_at(next_due_, [this] { run(); });
    }

    IOLoop& loop_;
    IOLoop::Callback callback_;
    IOLoop::Clock::duration period_;
    bool running_ = false;
    IOLoop::Clock::time_point next_due_;
    std::optional<IOLoop::Timeout> pending_;  // the scheduled call, if any
};

}  // namespace course

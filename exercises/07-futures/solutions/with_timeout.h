// with_timeout.h: a Future that gives up waiting. Tornado's gen.with_timeout.
//
// Extension task 5 of exercise 07, written out: the reference solution.
// The learner's copy is exercises/07-futures/with_timeout.h.
//
//   Future<HTTPResponse> page = with_timeout(client.fetch(url), 2s);
//   // done with the response, or failed with TimeoutError after 2 s
//
//   future ──────── done first ──► result gets its outcome; the timer is removed
//      │
//   timer ───────── fires first ─► result fails with TimeoutError; future goes
//                                  on, and what it brings later is dropped
//
// The rules, which the tests check:
//
// * The returned Future is a new one. `future` itself is left alone: a
//   timeout does not cancel the work, it only stops waiting for it
//   (Tornado's with_timeout does not cancel either).
// * When `future` finishes first, the timer is removed at once, so a
//   with_timeout of an hour that was answered in a millisecond keeps
//   nothing alive on the loop for the rest of the hour.
// * When the timer fires first, `future` may still finish later, with a
//   value or an exception: that outcome is dropped, never set on the done
//   result Future (which would throw InvalidStateError on the loop).
// * Everything happens on the Future's loop, in later turns, as every
//   Future callback does.
// * The returned Future is a handle like any other: the caller may copy
//   it, assign it to another, or let it go. So what the loop runs later
//   (the timer, the done callback) holds its own copy of it, never a
//   reference to with_timeout's local.
// * It works for Future<void> too (there is no value to copy).
#pragma once

#include <exception>
#include <stdexcept>
#include <type_traits>

#include <future.h>

namespace course {

// What with_timeout's Future holds when the time ran out first. Tornado's
// tornado.util.TimeoutError (also gen.TimeoutError).
class TimeoutError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A Future done with `future`'s outcome, or failed with TimeoutError if
// `timeout` passes first.
template <typename T>
Future<T> with_timeout(Future<T> future, IOLoop::Clock::duration timeout) {
    IOLoop& loop = future.io_loop();
    Future<T> result(loop);
    IOLoop::Timeout timer = loop.call_later(timeout, [result] {
        if (!result.done()) result.set_exception(std::make_exception_ptr(TimeoutError("Timeout")));
    });
    future.add_done_callback([result, timer, &loop](Future<T> done) {
        loop.remove_timeout(timer);  // the timer's copy of `result` goes with it
        if (result.done()) return;   // the timer came first: drop this outcome
        if (done.exception()) {
            result.set_exception(done.exception());
        } else if constexpr (std::is_void_v<T>) {
            result.set_result();
        } else {
            result.set_result(done.result());
        }
    });
    return result;
}

}  // namespace course

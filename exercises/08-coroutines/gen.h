// gen.h: what you do with Tasks from the outside, and the waits to await
// inside them. Tornado's tornado.gen (sleep, multi) and the IOLoop's
// spawn_callback and run_sync.
//
//   spawn(task)            starts a Task now; returns a Future<T> of its outcome
//   fire_and_forget(task)  starts a Task<void> nobody waits for; an
//                          exception that escapes it is logged
//   run_sync(loop, task)   runs the loop until the Task is done, returns its
//                          value or throws its exception (tests, main())
//   co_await sleep(100ms)  a Future<void> done 100 ms from now
//   co_await multi(tasks)  runs several Tasks at once, waits for all of them
//
// spawn and fire_and_forget start the Task from plain code, where nothing
// can co_await. Each does it with a small coroutine of its own (Detached,
// below) that awaits the Task and frees its own frame when it ends.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <future.h>  // <> on purpose: see "Includes" in chapter 07's future.h
#include <multi.h>
#include <task.h>
#include "ioloop.h"

namespace course {

// run_sync gave up waiting.
class TimeoutError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {

// A coroutine nobody owns. It starts at once (initial_suspend never
// suspends) and, when its body ends, its frame is destroyed by the
// compiler's own code (final_suspend never suspends either). The return
// object is empty: there is nothing to hold on to.
struct Detached {
    struct promise_type : FrameCounter {
        Detached get_return_object() const noexcept { return {}; }
        std::suspend_never initial_suspend() const noexcept { return {}; }
        std::suspend_never final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
        // Nobody is there to receive it: log it, like the loop does for a
        // callback that throws.
        void unhandled_exception() const noexcept;
    };
};

inline void Detached::promise_type::unhandled_exception() const noexcept {
    try {
        throw;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "Exception in a coroutine nobody awaited: %s\n", error.what());
    } catch (...) {
        std::fprintf(stderr, "Unknown exception in a coroutine nobody awaited\n");
    }
}

// Awaits `task` and puts its outcome into `outcome`.
template <typename T>
Detached resolve_with(Task<T> task, Future<T> outcome) {
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(task);
            outcome.set_result();
        } else {
            outcome.set_result(co_await std::move(task));
        }
    } catch (...) {
        outcome.set_exception(std::current_exception());
    }
}

inline Detached run_detached(Task<void> task) {
    co_await std::move(task);  // an exception goes to unhandled_exception
}

}  // namespace detail

// Starts `task` now (its body runs until its first real wait before spawn
// returns) and returns a Future of its outcome. The Task's frame is freed
// when it ends, whether anyone looks at the Future or not.
template <typename T>
Future<T> spawn(Task<T> task, IOLoop& loop = IOLoop::current()) {
    Future<T> outcome(loop);
    detail::resolve_with(std::move(task), outcome);
    return outcome;
}

// Starts `task` and forgets it. Tornado's IOLoop.spawn_callback.
inline void fire_and_forget(Task<void> task) { detail::run_detached(std::move(task)); }

// Runs `loop` until `task` is done; returns its value or throws its
// exception. With a timeout, throws TimeoutError if the task is still
// running by then (it stays suspended: its frame is not freed). Tornado's
// IOLoop.run_sync. Not from inside the loop: it calls start().
template <typename T>
T run_sync(IOLoop& loop, Task<T> task,
           IOLoop::Clock::duration timeout = IOLoop::Clock::duration::zero()) {
    std::optional<Future<T>> outcome;
    // Started from inside the loop, so that IOLoop::current() is `loop`.
    loop.add_callback([&] {
        outcome = spawn(std::move(task), loop);
        outcome->add_done_callback([&loop](const Future<T>&) { loop.stop(); });
    });
    std::optional<IOLoop::Timeout> limit;
    if (timeout > IOLoop::Clock::duration::zero()) {
        limit = loop.call_later(timeout, [&loop] { loop.stop(); });
    }
    loop.start();
    if (limit) loop.remove_timeout(*limit);
    if (!outcome || !outcome->done()) {
        throw TimeoutError("run_sync: the task did not finish before the loop stopped");
    }
    if constexpr (std::is_void_v<T>) {
        outcome->result();
    } else {
        return std::move(outcome->result());
    }
}

// A Future that is done `delay` from now. Tornado's gen.sleep. While a
// coroutine awaits it, the loop serves everyone else.
inline Future<void> sleep(IOLoop::Clock::duration delay, IOLoop& loop = IOLoop::current()) {
    // TODO(task 3): a Future<void> on `loop` that becomes done `delay` from
    // now, at a later turn of the loop (for 0 too).
    // Hint: make hint CH=08 TASK=3.
    (void)delay;
    (void)loop;
    throw std::logic_error("TODO(task 3): sleep");
}

// Runs every Task at once (each is spawned, so each starts now) and waits
// for all of them: the results in list order, or the first failure in
// list order, as chapter 07's multi() does for Futures, which this uses.
//   std::vector<int> sizes = co_await multi(std::move(tasks));
template <typename T>
auto multi(std::vector<Task<T>> tasks)
    -> Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> {
    // TODO(task 3): the outcome of chapter 07's multi() over the Tasks. Rule:
    // every Task starts now and they run at once (spawn() starts one): three
    // Tasks of 300, 100 and 200 ms take 300 ms, not 600. (With a co_await in
    // it, this function becomes a coroutine.)
    (void)tasks;
    throw std::logic_error("TODO(task 3): multi of Tasks");
}

}  // namespace course

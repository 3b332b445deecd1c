// executor.h: blocking work on a small pool of threads, its result handed
// back to the loop as a Future. Tornado's IOLoop.run_in_executor over a
// concurrent.futures.ThreadPoolExecutor.
//
//   ThreadPool pool(4);
//   Task<void> handler_body(ThreadPool& pool) {
//       std::string report = co_await run_in_executor(pool, [] { return slow_library_call(); });
//       ...                                  // back on the loop thread here
//   }
//
// Why it exists: co_await only helps with waits the loop knows about
// (sockets, timers, Futures). A call that blocks (a synchronous library, a
// big computation, std::this_thread::sleep_for) blocks the loop thread
// just the same inside a coroutine, and every other client waits. Moving
// the call to another thread frees the loop; the pool caps how many such
// calls run at once.
//
//   loop thread:  ... co_await run_in_executor(...) ──suspended──► resumed ...
//                            │ submit                       ▲ add_callback(set_result)
//   pool thread:             └──► function() (blocks) ──────┘
//
// Threads: run_in_executor is called on the loop's thread; `function` runs
// on a pool thread, so it must not touch the loop's objects (streams,
// handlers, Futures). Only add_callback crosses back. The pool must outlive
// the work given to it, and the loop must outlive the pool (destroy the
// pool first: its destructor waits for work already queued).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <future.h>  // <> on purpose: see "Includes" in chapter 07's future.h
#include "ioloop.h"

namespace course {

class ThreadPool {
public:
    explicit ThreadPool(std::size_t threads);
    // Runs the work already submitted, then joins the threads.
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // Queues `work` for the next free thread. Safe from any thread. `work`
    // must not throw (run_in_executor catches for it).
    void submit(std::function<void()> work);

    std::size_t size() const { return threads_.size(); }

private:
    void work_loop();

    std::mutex mutex_;  // guards queue_ and stopping_
    std::condition_variable wake_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

// Runs function() on a thread of `pool`; returns a Future (of `loop`) that
// gets its value, or its exception, on the loop's thread.
template <typename Function>
auto run_in_executor(ThreadPool& pool, Function function, IOLoop& loop = IOLoop::current())
    -> Future<std::invoke_result_t<Function&>> {
    // TODO(task 4): run `function` on a thread of `pool` (its size caps how
    // many run at once), and return at once a Future, on `loop`, of its value
    // or of the exception it threw (whatever its type, as it was thrown).
    // Rule: the Future belongs to the loop's thread; the pool thread never
    // touches it (loop.add_callback is its one safe way back).
    // Hint: make hint CH=08 TASK=4.
    (void)pool;
    (void)function;
    (void)loop;
    throw std::logic_error("TODO(task 4): run_in_executor");
}

}  // namespace course

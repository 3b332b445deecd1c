// wait_iterator.h: the results of several Tasks in the order they finish.
// Tornado's gen.WaitIterator (asyncio's as_completed).
//
// Extension task 6 of exercise 08, written out: the reference solution.
// The learner's copy is exercises/08-coroutines/wait_iterator.h.
//
//   WaitIterator<int> waiting(std::move(tasks));      // every Task starts now
//   while (!waiting.done()) {
//       int size = co_await waiting.next();           // the next to finish
//       log("task %zu gave %d", waiting.current_index(), size);
//   }
//
// multi() waits for the slowest before you see anything; a WaitIterator
// hands over each result as it comes, so a page can show the fast answers
// first, or a crawler start on one result while the others still run.
//
//   tasks:   0 ████████████████ (300 ms)
//            1 ████ (100 ms)
//            2 ████████ (200 ms)
//   next():  ─────► index 1 ─────► index 2 ─────► index 0, then done()
//
// The rules, which the tests check:
//
// * Every Task starts in the constructor (each is spawned), so they run at
//   once: the whole wait takes as long as the slowest, not the sum.
// * next() returns a Future of the next Task to finish: done with its value,
//   or failed with its exception (the other Tasks go on; later next()s
//   still give their results).
// * A Task that finishes while nobody waits in next() is kept, in finishing
//   order, for a later next(): no result is lost, however late next() comes.
// * current_index() is the position, in the constructor's list, of the Task
//   whose outcome the last next() gave. It changes only when that next()'s
//   Future is done, so it is right when co_await next() returns.
// * done() is true once every result has been handed out by next().
// * next() when done(), or while the Future of the previous next() is
//   still pending, throws std::logic_error (Tornado's is quiet about the
//   second; here it is a clear error).
// * Everything runs on the loop given to the constructor: the Tasks are
//   spawned on it, and the Futures next() returns are of it.
// * The Tasks hold no reference to the WaitIterator: if it is destroyed
//   first, they run to their end and their results are dropped.
// * Works for Task<void> too.
#pragma once

#include <cstddef>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <future.h>
#include <gen.h>
#include <task.h>

namespace course {

namespace detail {

// What the WaitIterator and the callbacks of its Tasks share. A shared_ptr,
// so that a callback that runs after the WaitIterator is gone finds it.
template <typename T>
struct WaitState {
    explicit WaitState(IOLoop& loop_) : loop(loop_) {}
    IOLoop& loop;
    std::deque<std::pair<std::size_t, Future<T>>> finished;  // not handed out yet
    std::optional<Future<T>> waiting;  // the pending Future of a next()
    std::size_t current_index = std::numeric_limits<std::size_t>::max();
};

// Makes `to` done with `from`'s outcome (`from` is done).
template <typename T>
void copy_outcome(const Future<T>& from, const Future<T>& to) {
    if (from.exception()) {
        to.set_exception(from.exception());
    } else if constexpr (std::is_void_v<T>) {
        to.set_result();
    } else {
        to.set_result(from.result());
    }
}

// Hands the oldest finished outcome to the waiting next(), if both exist.
template <typename T>
void hand_over(WaitState<T>& state) {
    if (!state.waiting || state.finished.empty()) return;
    auto [index, outcome] = std::move(state.finished.front());
    state.finished.pop_front();
    Future<T> waiting = std::move(*state.waiting);
    state.waiting.reset();
    state.current_index = index;
    copy_outcome(outcome, waiting);
}

}  // namespace detail

template <typename T>
class WaitIterator {
public:
    explicit WaitIterator(std::vector<Task<T>> tasks, IOLoop& loop = IOLoop::current())
        : state_(std::make_shared<detail::WaitState<T>>(loop)), remaining_(tasks.size()) {
        for (std::size_t i = 0; i < tasks.size(); ++i) {
            Future<T> running = spawn(std::move(tasks[i]), loop);
            running.add_done_callback([state = state_, i](Future<T> done) {
                state->finished.emplace_back(i, std::move(done));
                detail::hand_over(*state);
            });
        }
    }

    // True once next() has handed out every result.
    bool done() const { return remaining_ == 0; }

    // A Future of the next Task to finish (its value or its exception).
    Future<T> next() {
        if (done()) throw std::logic_error("WaitIterator::next: every result was handed out");
        if (state_->waiting) {
            throw std::logic_error("WaitIterator::next: the previous next() is still pending");
        }
        --remaining_;
        Future<T> answer(state_->loop);
        state_->waiting = answer;
        detail::hand_over(*state_);
        return answer;
    }

    // The index, in the constructor's list, of the Task the last next() gave.
    std::size_t current_index() const { return state_->current_index; }

private:
    std::shared_ptr<detail::WaitState<T>> state_;
    std::size_t remaining_;  // results next() has yet to hand out
};

}  // namespace course

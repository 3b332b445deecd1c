// tornado/gen.h: coroutines, the C++ twin of `async def` and `await`.
//
// A function that returns Task<T> and uses co_await / co_return is a
// coroutine. Tornado's rules apply:
//
//   * calling a coroutine starts it at once: its body runs until its first
//     co_await on something not done yet, and only then does the call return
//     (like @gen.coroutine, and unlike a lazy C++ task);
//   * the Task it returns can be awaited (`T x = co_await task;`), turned
//     into a Future<T> (`Future<T> f = coro();`), or dropped: a dropped Task
//     runs on to its end, its frame frees itself, and an exception nobody
//     will see is logged;
//   * an exception thrown in a coroutine comes out of the co_await that waits
//     for it, as in Python;
//   * a coroutine can co_await a Future, another Task, multi(...) of many,
//     sleep(d), with_timeout(d, f), moment, and run_in_executor(f).
//
// A coroutine resumed by a Future continues at a later turn of the loop (the
// Future's done callbacks never run inside set_result); one resumed by a Task
// it awaited continues at once, when that Task finishes.
//
// Frame lifetime is exact: a frame is freed when its coroutine has finished
// and no Task refers to it; a coroutine still waiting when its loop closes
// is cancelled (CancelledError comes out of its co_await) and unwinds.
//
// Two C++ pitfalls Python does not have: take coroutine parameters by value
// (a reference may dangle after the first co_await; share what the frame
// must keep, as `client` below), and give a lambda that is a coroutine to
// spawn_callback / run_sync / add_callback, which keep the lambda (its
// captures) alive until the coroutine ends. `make lint` checks the first
// rule over final/ (clang-tidy's avoid-reference-coroutine-parameters).
//
// Example:
//
//   tornado::Task<std::string> fetch_both(std::shared_ptr<Client> client) {
//       std::vector<tornado::Future<std::string>> pages{client->fetch("/a"),
//                                                       client->fetch("/b")};
//       std::vector<std::string> bodies = co_await tornado::multi(std::move(pages));
//       co_await tornado::sleep(std::chrono::milliseconds(10));
//       int n = co_await tornado::run_in_executor([] { return blocking_count(); });
//       co_return bodies[0] + bodies[1] + std::to_string(n);
//   }
#pragma once

#include <chrono>
#include <coroutine>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"
#include "tornado/trace.h"
#include "tornado/util.h"

namespace tornado {

template <typename T = void>
class Task;

namespace detail {

// --- what a trace sees of a coroutine (IOLoop::start_tracing) -----------------------
//
// Every co_await in a Task goes through a TracedAwaiter (the promise's
// await_transform), which tells the tracer when the coroutine suspends and
// when it resumes. With tracing off, that is one test of a global count per
// suspension and one of a flag per resumption.

// The awaiter `co_await x` would use: x's operator co_await (a member or a
// free one), or x itself, as a reference (it outlives the co_await).
template <typename Awaitable>
decltype(auto) awaiter_of(Awaitable&& awaitable) {
    if constexpr (requires { std::forward<Awaitable>(awaitable).operator co_await(); }) {
        return std::forward<Awaitable>(awaitable).operator co_await();
    } else if constexpr (requires { operator co_await(std::forward<Awaitable>(awaitable)); }) {
        return operator co_await(std::forward<Awaitable>(awaitable));
    } else {
        return std::forward<Awaitable>(awaitable);
    }
}

// `Awaiter`, with the suspension and the resumption told to the tracer.
// The suspension is recorded before the inner await_suspend: once that has
// run, the coroutine may already have resumed (or finished).
template <typename Awaiter>
class TracedAwaiter {
public:
    TracedAwaiter(Awaiter&& awaiter, const void* task)
        : awaiter_(std::forward<Awaiter>(awaiter)), task_(task) {}

    bool await_ready() { return awaiter_.await_ready(); }
    template <typename Promise>
    auto await_suspend(std::coroutine_handle<Promise> coroutine) {
        if (tracing_anywhere()) {
            suspended_ = true;
            trace_task_suspended(task_);
        }
        return awaiter_.await_suspend(coroutine);
    }
    decltype(auto) await_resume() {
        if (suspended_) trace_task_resumed(task_);
        return awaiter_.await_resume();
    }

private:
    Awaiter awaiter_;
    const void* task_;  // the promise of the coroutine that awaits
    bool suspended_ = false;
};

class TaskPromiseBase {
public:
    // Eager: the body runs as soon as the coroutine is called.
    std::suspend_never initial_suspend() const noexcept { return {}; }
    // Every co_await of the body (see TracedAwaiter).
    template <typename Awaitable>
    auto await_transform(Awaitable&& awaitable) {
        using Awaiter = decltype(awaiter_of(std::forward<Awaitable>(awaitable)));
        return TracedAwaiter<Awaiter>(awaiter_of(std::forward<Awaitable>(awaitable)), this);
    }
    void unhandled_exception() noexcept { exception_ = std::current_exception(); }

    void rethrow_if_failed() {
        if (exception_) {
            exception_retrieved_ = true;
            std::rethrow_exception(exception_);
        }
    }
    // Logs the exception of a finished coroutine that nobody will ever see.
    void log_if_unobserved() noexcept;

    std::coroutine_handle<> continuation_;  // the coroutine awaiting this one
    std::exception_ptr exception_;
    bool detached_ = false;  // no Task refers to the frame: it frees itself
    bool exception_retrieved_ = false;
};

template <typename T>
class TaskResult : public TaskPromiseBase {
public:
    template <typename U>
        requires(std::is_constructible_v<T, U&&>)
    void return_value(U&& value) { value_.emplace(std::forward<U>(value)); }
    T& value() noexcept { return *value_; }

protected:
    void deliver(FutureState<T>& future) { future.set_value(std::move(*value_)); }

private:
    std::optional<T> value_;
};

template <>
class TaskResult<void> : public TaskPromiseBase {
public:
    void return_void() const noexcept {}

protected:
    void deliver(FutureState<void>& future) { future.set_value(); }
};

// At the end of a coroutine: hand the result to the Future it became (if it
// did), then resume the coroutine awaiting it (symmetric transfer: no
// stack growth, no loop turn), or free the frame if nobody refers to it.
struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> frame) const noexcept {
        Promise& promise = frame.promise();
        if (promise.future_ != nullptr) promise.deliver_to_future();
        if (promise.continuation_) return promise.continuation_;
        if (promise.detached_) {
            promise.log_if_unobserved();
            frame.destroy();
        }
        return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
};

template <typename T>
class TaskPromise final : public TaskResult<T> {
public:
    // The compiler makes the promise with no argument (this constructor
    // does not take the coroutine's parameters), so `where` is the
    // default: the place of the coroutine's own function, its name in a
    // trace. Implicit, as the compiler may call it so.
    TaskPromise(SourceLocation where = SourceLocation::current()) noexcept {  // NOLINT
        if (tracing_anywhere()) trace_task_created(static_cast<TaskPromiseBase*>(this), where);
    }
    Task<T> get_return_object() noexcept {
        return Task<T>(std::coroutine_handle<TaskPromise>::from_promise(*this));
    }
    FinalAwaiter final_suspend() const noexcept {
        if (tracing_anywhere()) trace_task_finished(static_cast<const TaskPromiseBase*>(this));
        return {};
    }

    void deliver_to_future() noexcept {
        FutureState<T>* future = std::exchange(future_, nullptr);
        if (future->cancelled()) {
            // run_sync gave up on it (timeout): nobody wants the result.
            if (this->exception_) log_exception_after_cancel(this->exception_);
        } else if (this->exception_) {
            future->set_exception(this->exception_);
        } else {
            this->deliver(*future);
        }
        this->exception_retrieved_ = true;
        future->release();
    }

    FutureState<T>* future_ = nullptr;  // set when the Task became a Future
};

// `co_await task`: ready when the coroutine has finished; otherwise the
// awaiting coroutine is resumed by the task's final_suspend.
template <typename T, bool kTake>
struct TaskAwaiter {
    std::coroutine_handle<TaskPromise<T>> frame;

    bool await_ready() const noexcept { return frame.done(); }
    void await_suspend(std::coroutine_handle<> awaiting) const {
        if (frame.promise().continuation_) {
            throw InvalidStateError("a Task can be awaited by one coroutine at a time");
        }
        frame.promise().continuation_ = awaiting;
    }
    decltype(auto) await_resume() const {
        frame.promise().rethrow_if_failed();
        if constexpr (std::is_void_v<T>) {
            return;
        } else if constexpr (kTake) {
            return T(std::move(frame.promise().value()));
        } else {
            return static_cast<T&>(frame.promise().value());
        }
    }
};

// "Multiple exceptions in yield list" (multi), "Exception in Future after
// timeout" (with_timeout): what Tornado logs.
void log_multi_exception(std::exception_ptr error);
void log_exception_after_timeout(std::exception_ptr error);

}  // namespace detail

// The handle a coroutine returns. Move-only; see the module comment.
template <typename T>
class Task {
public:
    // The C++ coroutine hook: what makes a function that returns Task<T> a
    // coroutine, and where its result waits.
    using promise_type = detail::TaskPromise<T>;
    using value_type = T;

    Task(Task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            release();
            frame_ = std::exchange(other.frame_, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() { release(); }

    // False once moved from, detached or turned into a Future.
    bool valid() const noexcept { return static_cast<bool>(frame_); }
    // Whether the coroutine has finished.
    bool done() const { return frame().done(); }

    // The result of a finished coroutine (rethrows its exception); throws
    // InvalidStateError while it runs.
    std::add_lvalue_reference_t<T> result() & {
        if (!done()) throw InvalidStateError("the coroutine has not finished");
        frame_.promise().rethrow_if_failed();
        if constexpr (!std::is_void_v<T>) return frame_.promise().value();
    }

    // A Future for the result; the Task lets go of the frame (which frees
    // itself when the coroutine ends). Tornado's coroutines return Futures.
    Future<T> future() && {
        std::coroutine_handle<promise_type> frame = std::exchange(frame_, {});
        if (!frame) throw InvalidStateError("empty Task");
        promise_type& promise = frame.promise();
        Future<T> future;
        if (frame.done()) {
            if (promise.exception_) {
                promise.exception_retrieved_ = true;
                future.set_exception(promise.exception_);
            } else if constexpr (std::is_void_v<T>) {
                future.set_result();
            } else {
                future.set_result(std::move(promise.value()));
            }
            frame.destroy();
        } else {
            promise.future_ = &future.state();
            promise.future_->add_ref();
            promise.detached_ = true;
        }
        return future;
    }
    operator Future<T>() && { return std::move(*this).future(); }  // NOLINT: implicit on purpose

    // Lets the coroutine run on alone (the same as dropping the Task).
    void detach() && { release(); }

    auto operator co_await() & { return detail::TaskAwaiter<T, false>{frame()}; }
    auto operator co_await() && { return detail::TaskAwaiter<T, true>{frame()}; }

private:
    friend class detail::TaskPromise<T>;
    explicit Task(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}

    std::coroutine_handle<promise_type> frame() const {
        if (!frame_) throw InvalidStateError("empty Task (moved from?)");
        return frame_;
    }
    void release() noexcept {
        std::coroutine_handle<promise_type> frame = std::exchange(frame_, {});
        if (!frame) return;
        if (frame.done()) {
            frame.promise().log_if_unobserved();
            frame.destroy();
        } else {
            frame.promise().detached_ = true;
        }
    }

    std::coroutine_handle<promise_type> frame_;
};

// Whether T is a Task (the specialization below says yes).
template <typename T>
struct is_task : std::false_type {};
template <typename T>
struct is_task<Task<T>> : std::true_type {};
// is_task, with const and references stripped first: true for Task<int>&&.
template <typename T>
inline constexpr bool is_task_v = is_task<std::remove_cvref_t<T>>::value;

// gen.convert_yielded for a Task: its Future.
template <typename T>
Future<T> convert_yielded(Task<T>&& task) {
    return std::move(task).future();
}

// --- waiting ----------------------------------------------------------------------

// A Future that resolves after `duration` (gen.sleep): `co_await sleep(100ms);`
template <typename Rep, typename Period>
Future<void> sleep(std::chrono::duration<Rep, Period> duration) {
    Future<void> future;
    IOLoop::current().call_later(duration,
                                 [future] { future_set_result_unless_cancelled(future); });
    return future;
}

// What `moment` is: an awaitable that needs no Future (Tornado's
// gen.moment is a special object too).
struct Moment {
    // Never ready: the coroutine always gives up its turn.
    bool await_ready() const noexcept { return false; }
    // Queues the coroutine's resumption on IOLoop::current(), as
    // add_callback queues a callback.
    void await_suspend(std::coroutine_handle<> coroutine) const {
        detail::schedule_resume(IOLoop::current(), coroutine);
    }
    void await_resume() const noexcept {}
};
// `co_await moment;` gives the loop one turn (gen.moment): callbacks already
// queued run first, then this coroutine goes on.
inline constexpr Moment moment{};

// A Future with the outcome of `future`, or TimeoutError("Timeout") if that
// has not come by `deadline` (gen.with_timeout). The wrapped Future is not
// cancelled, and an exception it ends with after the timeout is logged.
template <typename T>
Future<T> with_timeout(IOLoop::Clock::time_point deadline, Future<T> future) {
    Future<T> result;
    chain_future(future, result);
    IOLoop& loop = IOLoop::current();
    IOLoop::Timeout timeout = loop.call_at(deadline, [result, future] {
        if (!result.done()) result.set_exception(TimeoutError("Timeout"));
        future_add_done_callback(future, [](Future<T> late) {
            if (!late.cancelled() && late.exception()) {
                detail::log_exception_after_timeout(late.exception());
            }
        });
    });
    future_add_done_callback(future, [&loop, timeout] { loop.remove_timeout(timeout); });
    return result;
}
template <typename Rep, typename Period, typename T>
Future<T> with_timeout(std::chrono::duration<Rep, Period> timeout, Future<T> future) {
    return with_timeout(IOLoop::time() + std::chrono::ceil<IOLoop::Clock::duration>(timeout),
                        std::move(future));
}
template <typename Deadline, typename T>
Future<T> with_timeout(Deadline deadline, Task<T>&& task) {
    return with_timeout(deadline, std::move(task).future());
}

// Runs func() on the current loop's thread pool (IOLoop::run_in_executor):
// `int n = co_await run_in_executor([] { return blocking_count(); });`
template <typename F>
auto run_in_executor(F&& func, SourceLocation where = SourceLocation::current()) {
    return IOLoop::current().run_in_executor(nullptr, std::forward<F>(func), where);
}

// --- multi ------------------------------------------------------------------------

namespace detail {

// multi's rule (below), for each of its three shapes: the first failure in
// the given order is kept, the later ones are logged.
class FirstError {
public:
    void record(std::exception_ptr error) {
        if (first_) {
            log_multi_exception(error);
        } else {
            first_ = std::move(error);
        }
    }
    void rethrow_if_any() const {
        if (first_) std::rethrow_exception(first_);
    }

private:
    std::exception_ptr first_;
};

template <typename Child, typename T>
Task<std::vector<T>> multi_vector(std::vector<Child> children) {
    std::vector<T> results;
    results.reserve(children.size());
    FirstError errors;
    for (Child& child : children) {
        try {
            results.push_back(co_await std::move(child));
        } catch (...) {
            errors.record(std::current_exception());
        }
    }
    errors.rethrow_if_any();
    co_return results;
}

template <typename Child>
Task<void> multi_void(std::vector<Child> children) {
    FirstError errors;
    for (Child& child : children) {
        try {
            co_await std::move(child);
        } catch (...) {
            errors.record(std::current_exception());
        }
    }
    errors.rethrow_if_any();
}

template <typename K, typename Child, typename T>
Task<std::map<K, T>> multi_map(std::map<K, Child> children) {
    std::map<K, T> results;
    FirstError errors;
    for (auto& [key, child] : children) {
        try {
            T value = co_await std::move(child);
            results.emplace(key, std::move(value));
        } catch (...) {
            errors.record(std::current_exception());
        }
    }
    errors.rethrow_if_any();
    co_return results;
}

}  // namespace detail

// Waits for many Futures or Tasks at once (gen.multi), given as a vector:
// the result is a vector of their values, in the same order. As in
// Tornado, multi waits until every child has finished, even when one
// fails early; it then fails with the exception of the first failed child
// in the given order, and logs the exceptions of any other failed children
// ("Multiple exceptions in yield list"). An empty vector gives an empty
// result.
template <typename T>
    requires(!std::is_void_v<T>)
Future<std::vector<T>> multi(std::vector<Future<T>> children) {
    return detail::multi_vector<Future<T>, T>(std::move(children));
}
template <typename T>
    requires(!std::is_void_v<T>)
Future<std::vector<T>> multi(std::vector<Task<T>> children) {
    return detail::multi_vector<Task<T>, T>(std::move(children));
}
// Children without a value: done when every one is, failing as above.
inline Future<void> multi(std::vector<Future<void>> children) {
    return detail::multi_void(std::move(children));
}
inline Future<void> multi(std::vector<Task<void>> children) {
    return detail::multi_void(std::move(children));
}
// Children given as a map: the result maps the same keys to their values.
// Failures as above, in the map's order of keys.
template <typename K, typename T>
    requires(!std::is_void_v<T>)
Future<std::map<K, T>> multi(std::map<K, Future<T>> children) {
    return detail::multi_map<K, Future<T>, T>(std::move(children));
}
template <typename K, typename T>
    requires(!std::is_void_v<T>)
Future<std::map<K, T>> multi(std::map<K, Task<T>> children) {
    return detail::multi_map<K, Task<T>, T>(std::move(children));
}

// --- WaitIterator -------------------------------------------------------------------
//
// Several Futures, taken as each finishes rather than in their order
// (gen.WaitIterator). next() gives a Future with the outcome of the next one
// to finish; current_index() says which of the given Futures that was:
//
//   tornado::WaitIterator<std::string> pages(std::move(fetches));
//   while (!pages.done()) {
//       try {
//           std::string body = co_await pages.next();
//           use(pages.current_index(), body);
//       } catch (const std::exception& error) {
//           report(pages.current_index(), error);   // that one failed
//       }
//   }
//
// As in Tornado, a failed Future's exception comes out of the co_await of
// its turn and the others still come; call next() only when the previous
// one is done. done() is true once next() has given every Future.
// current_index() is set when the Future next() returned resolves.
template <typename T>
class WaitIterator {
public:
    explicit WaitIterator(std::vector<Future<T>> futures) : state_(std::make_shared<State>()) {
        state_->futures = std::move(futures);
        for (std::size_t index = 0; index < state_->futures.size(); ++index) {
            // The state, not `this`: the iterator may move, or be gone while
            // Futures are still pending.
            state_->futures[index].add_done_callback(
                [state = state_, index] { state->finished(index); });
        }
    }

    // Whether next() has given every Future (not whether they have all
    // finished); true at once for no Futures.
    bool done() const { return state_->given == state_->futures.size(); }

    // Throws std::logic_error when every Future has been given already, or
    // while the previous next() has not resolved.
    Future<T> next() {
        State& state = *state_;
        if (done()) throw std::logic_error("WaitIterator::next(): no Future left");
        if (state.waiting && !state.waiting->done()) {
            throw std::logic_error("WaitIterator::next(): the previous next() is not done");
        }
        ++state.given;
        state.waiting = Future<T>();
        if (!state.ready.empty()) {
            std::size_t index = state.ready.front();
            state.ready.pop_front();
            state.hand_over(index);
        }
        return *state.waiting;
    }

    // Which Future (its index in the vector given) the last resolved next()
    // came from; nothing before the first.
    std::optional<std::size_t> current_index() const { return state_->current_index; }

private:
    struct State {
        std::vector<Future<T>> futures;
        std::deque<std::size_t> ready;     // finished, not given yet, in finishing order
        std::optional<Future<T>> waiting;  // the last next()'s Future
        std::size_t given = 0;
        std::optional<std::size_t> current_index;

        void finished(std::size_t index) {
            if (waiting && !waiting->done()) {
                hand_over(index);
            } else {
                ready.push_back(index);
            }
        }
        void hand_over(std::size_t index) {
            current_index = index;
            chain_future(futures[index], *waiting);
        }
    };
    std::shared_ptr<State> state_;
};

}  // namespace tornado

// tornado/concurrent.h: Future<T>, the result of work that has not finished.
//
// A Future is a box that will hold a value or an exception. Whoever does the
// work calls set_result (or set_exception); whoever waits adds a done
// callback, or, in a coroutine, simply `co_await`s it (gen.h). This is
// Tornado's `tornado.concurrent` (itself asyncio's Future), with the same
// rules:
//
//   * reference semantics: copies of a Future share one state, like two
//     Python names for one object;
//   * done callbacks never run inside set_result: they are queued on the
//     IOLoop and run at its next turn, so the code that resolves a Future
//     never finds itself re-entered by the code that waits for it;
//   * result() rethrows the stored exception, and throws InvalidStateError
//     while the Future is pending and CancelledError once it is cancelled;
//   * a Future belongs to one loop's thread. Another thread hands a result
//     back with IOLoop::add_callback (run_in_executor does it for you).
//
// Example:
//
//   tornado::Future<int> answer;                  // pending
//   answer.add_done_callback([](tornado::Future<int> done) {
//       std::printf("%d\n", done.result());        // at the loop's next turn
//   });
//   answer.set_result(42);
//
// Also here: the helpers Tornado keeps beside its Future
// (future_set_result_unless_cancelled, future_add_done_callback,
// chain_future) and ThreadPoolExecutor, the thread pool that runs blocking
// work for IOLoop::run_in_executor.
#pragma once

#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tornado/util.h"

namespace tornado {

class IOLoop;

// The Future was cancelled (asyncio.CancelledError).
class CancelledError : public std::runtime_error {
public:
    CancelledError() : std::runtime_error("the Future was cancelled") {}
    using std::runtime_error::runtime_error;
};

// A Future was used in a way its state does not allow: result() while
// pending, set_result() twice (asyncio.InvalidStateError).
class InvalidStateError : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

namespace detail {

// Whether `error` holds a CancelledError: a cancelled wait is an ending, not
// a failure worth logging.
bool is_cancelled_error(const std::exception_ptr& error);

// The state every copy of one Future shares. Not thread-safe, on purpose:
// a Future lives on its loop's thread, so the reference count needs no
// atomic instructions.
class FutureStateBase {
public:
    using DoneCallback = Function<void(FutureStateBase&)>;
    enum class Status : std::uint8_t { pending, finished, cancelled };

    FutureStateBase(const FutureStateBase&) = delete;
    FutureStateBase& operator=(const FutureStateBase&) = delete;

    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        // The last reference frees the state: the one place this intrusive
        // count deletes what make() allocated.
        if (--refs_ == 0) delete this;
    }
    std::uint32_t use_count() const noexcept { return refs_; }

    bool done() const noexcept { return status_ != Status::pending; }
    bool cancelled() const noexcept { return status_ == Status::cancelled; }

    // Resumes `waiter` (a coroutine suspended in co_await) on the loop once
    // the Future is done.
    void add_waiter(std::coroutine_handle<> waiter);
    // Runs callback(*this) on the loop once done (next turn if done already).
    void add_done_callback(DoneCallback callback);

    bool cancel();
    void set_exception(std::exception_ptr error);
    // Throws what result() must: InvalidStateError while pending,
    // CancelledError once cancelled, else the stored exception if any.
    void throw_if_failed();
    std::exception_ptr exception();

protected:
    FutureStateBase() noexcept = default;
    virtual ~FutureStateBase();
    void check_pending() const;
    void finish();  // the value is in place: mark done, queue the callbacks

private:
    friend class tornado::IOLoop;
    bool has_callbacks() const noexcept;
    void add_callback(DoneCallback callback);
    void schedule_callbacks();
    void run_callbacks();
    void run_callback(DoneCallback& callback);
    void track();    // joins its loop's list of awaited, pending Futures
    void untrack();  // leaves it

    std::uint32_t refs_ = 1;
    Status status_ = Status::pending;
    bool callbacks_scheduled_ = false;
    bool exception_retrieved_ = false;
    bool tracked_ = false;  // on loop_'s list (see below)
    std::exception_ptr exception_;
    // The loop that runs the callbacks: the current loop of the thread that
    // registered the first one; cleared once they have run.
    IOLoop* loop_ = nullptr;
    // Links in loop_'s list of pending Futures that someone waits for: the
    // list IOLoop::close() cancels, so no coroutine is left suspended.
    FutureStateBase* pending_prev_ = nullptr;
    FutureStateBase* pending_next_ = nullptr;
    // The usual cases, one coroutine waiting or one callback, need no
    // allocation: the first of each has its own slot. More callbacks are
    // rare: their list is made when needed, so a Future stays small.
    std::coroutine_handle<> waiter_;
    DoneCallback first_callback_;
    std::unique_ptr<std::vector<DoneCallback>> more_callbacks_;
};

template <typename T>
class FutureState final : public FutureStateBase {
public:
    static FutureState* make() { return new FutureState(); }  // freed by release()

    template <typename... A>
    void set_value(A&&... value) {
        check_pending();
        value_.emplace(std::forward<A>(value)...);
        finish();
    }
    T& value() noexcept { return *value_; }

private:
    FutureState() = default;
    std::optional<T> value_;
};

template <>
class FutureState<void> final : public FutureStateBase {
public:
    static FutureState* make() { return new FutureState(); }  // freed by release()
    void set_value() {
        check_pending();
        finish();
    }

private:
    FutureState() = default;
};

// `co_await future`: ready when done; otherwise the coroutine is resumed
// by the loop after the Future resolves. An lvalue Future gives T& (the
// value stays in the shared state); an rvalue gives T, moved out.
template <typename T, bool kTake>
struct FutureAwaiter {
    FutureState<T>* state;  // the Future in the co_await expression keeps it alive

    bool await_ready() const noexcept { return state->done(); }
    void await_suspend(std::coroutine_handle<> waiter) const { state->add_waiter(waiter); }
    decltype(auto) await_resume() const {
        state->throw_if_failed();
        if constexpr (std::is_void_v<T>) {
            return;
        } else if constexpr (kTake) {
            return T(std::move(state->value()));
        } else {
            return static_cast<T&>(state->value());
        }
    }
};

}  // namespace detail

// The result of an asynchronous operation (Tornado's tornado.concurrent.Future).
// On an empty handle (see valid()) every call that needs the state throws
// InvalidStateError; co_await on one ends the program (std::terminate:
// operator co_await is noexcept).
template <typename T>
class Future {
    static_assert(!std::is_reference_v<T>, "Future<T&> is not supported; use a pointer");

public:
    using value_type = T;

    // A new pending Future.
    Future() : state_(detail::FutureState<T>::make()) {}
    // An empty handle (no state), for a member to be assigned later.
    explicit Future(std::nullptr_t) noexcept : state_(nullptr) {}

    Future(const Future& other) noexcept : state_(other.state_) {
        if (state_ != nullptr) state_->add_ref();
    }
    Future(Future&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    Future& operator=(Future other) noexcept {
        std::swap(state_, other.state_);
        return *this;
    }
    ~Future() {
        if (state_ != nullptr) state_->release();
    }

    // False for an empty handle (moved from, or made with nullptr).
    bool valid() const noexcept { return state_ != nullptr; }

    // Whether it is no longer pending: it holds a value or an exception, or
    // was cancelled.
    bool done() const { return state().done(); }
    bool cancelled() const { return state().cancelled(); }
    // Cancels a pending Future (its callbacks run; result() then throws
    // CancelledError). Returns false if it was already done.
    bool cancel() const { return state().cancel(); }

    // Resolves a Future<void>; its callbacks run at the loop's next turn.
    // Throws InvalidStateError if it is done already, cancelled included
    // (future_set_result_unless_cancelled is the forgiving form).
    void set_result() const requires(std::is_void_v<T>) { state().set_value(); }
    // Resolves with a value (a T is made from `value`), as set_result().
    template <typename U>
        requires(!std::is_void_v<T> && std::is_constructible_v<T, U&&>)
    void set_result(U&& value) const { state().set_value(std::forward<U>(value)); }
    // Fails the Future with `error`, which result() and co_await rethrow.
    // Throws InvalidStateError if it is done already, std::invalid_argument
    // for a null `error`.
    void set_exception(std::exception_ptr error) const { state().set_exception(std::move(error)); }
    // The same with an exception object, as std::make_exception_ptr takes it.
    template <typename E>
        requires(std::is_base_of_v<std::exception, std::decay_t<E>>)
    void set_exception(E&& error) const {
        set_exception(std::make_exception_ptr(std::forward<E>(error)));
    }

    // The value (rethrows the exception; see the module comment).
    std::add_lvalue_reference_t<T> result() const {
        state().throw_if_failed();
        if constexpr (!std::is_void_v<T>) return state().value();
    }
    // The stored exception, or nullptr. Throws InvalidStateError while
    // pending and CancelledError once cancelled.
    std::exception_ptr exception() const { return state().exception(); }

    // Runs callback(future) (or callback()) on the loop once done; at the
    // next turn if done already. Never inside set_result.
    template <typename F>
    void add_done_callback(F&& callback) const {
        using Stored = std::decay_t<F>;
        if constexpr (std::is_invocable_v<Stored&, Future>) {
            state().add_done_callback(
                [callback = std::forward<F>(callback)](detail::FutureStateBase& done) mutable {
                    callback(Future::borrow(static_cast<detail::FutureState<T>*>(&done)));
                });
        } else {
            static_assert(std::is_invocable_v<Stored&>,
                          "a done callback takes the Future, or nothing");
            state().add_done_callback([callback = std::forward<F>(callback)](
                                          detail::FutureStateBase&) mutable { callback(); });
        }
    }

    auto operator co_await() const& noexcept { return detail::FutureAwaiter<T, false>{&state()}; }
    auto operator co_await() && noexcept { return detail::FutureAwaiter<T, true>{&state()}; }

    // Two handles on one state.
    friend bool operator==(const Future& a, const Future& b) noexcept {
        return a.state_ == b.state_;
    }

    // For the framework: a new handle on `state` (adds a reference).
    static Future borrow(detail::FutureState<T>* state) noexcept {
        state->add_ref();
        return Future(state, 0);
    }
    // For the framework: the shared state, alive while this handle is.
    // Throws InvalidStateError for an empty handle.
    detail::FutureState<T>& state() const {
        if (state_ == nullptr) throw InvalidStateError("empty Future (moved from?)");
        return *state_;
    }

private:
    Future(detail::FutureState<T>* adopted, int) noexcept : state_(adopted) {}
    detail::FutureState<T>* state_;
};

// Whether T is a Future (the specialization below says yes).
template <typename T>
struct is_future : std::false_type {};
template <typename T>
struct is_future<Future<T>> : std::true_type {};
// is_future, with const and references stripped first: true for
// const Future<int>&.
template <typename T>
inline constexpr bool is_future_v = is_future<std::remove_cvref_t<T>>::value;

namespace detail {

// A Future<void> that is already done: what an operation with nothing left
// to wait for returns.
inline Future<void> done_future() {
    Future<void> future;
    future.set_result();
    return future;
}

}  // namespace detail

// gen.convert_yielded: turns what a coroutine may wait for into a Future.
// gen.h adds the overload for Task.
template <typename T>
Future<T> convert_yielded(Future<T> future) {
    return future;
}

// Sets the result unless the Future was cancelled (then does nothing).
template <typename T, typename U>
void future_set_result_unless_cancelled(const Future<T>& future, U&& value) {
    if (!future.cancelled()) future.set_result(std::forward<U>(value));
}
inline void future_set_result_unless_cancelled(const Future<void>& future) {
    if (!future.cancelled()) future.set_result();
}

// Logs `error` as "Exception after Future was cancelled" (app_log), as
// Tornado does; nothing for a null error or a CancelledError.
void log_exception_after_cancel(std::exception_ptr error);
// Sets the exception unless the Future was cancelled (then logs it, with
// log_exception_after_cancel).
template <typename T>
void future_set_exception_unless_cancelled(const Future<T>& future, std::exception_ptr error) {
    if (!future.cancelled()) {
        future.set_exception(std::move(error));
    } else {
        log_exception_after_cancel(std::move(error));
    }
}

// Runs callback(future) at once if the Future is done, else when it is
// (Tornado's future_add_done_callback; Future::add_done_callback always waits
// for the next loop turn).
template <typename T, typename F>
void future_add_done_callback(const Future<T>& future, F&& callback) {
    if (future.done()) {
        if constexpr (std::is_invocable_v<std::decay_t<F>&, Future<T>>) {
            callback(future);
        } else {
            callback();
        }
    } else {
        future.add_done_callback(std::forward<F>(callback));
    }
}

// When `a` finishes, copies its outcome (value, exception or cancellation)
// to `b`, unless `b` is done by then. A move-only value is moved.
template <typename T>
void chain_future(const Future<T>& a, Future<T> b) {
    future_add_done_callback(a, [b = std::move(b)](Future<T> done) {
        if (b.done()) return;
        if (done.cancelled()) {
            b.cancel();
        } else if (std::exception_ptr error = done.exception()) {
            b.set_exception(std::move(error));
        } else if constexpr (std::is_void_v<T>) {
            b.set_result();
        } else if constexpr (std::is_copy_constructible_v<T>) {
            b.set_result(done.result());
        } else {
            b.set_result(std::move(done.result()));
        }
    });
}

// A fixed-size pool of threads for blocking work (Python's
// concurrent.futures.ThreadPoolExecutor). Threads start on demand, up to
// max_workers; jobs run in the order submitted. Use it through
// IOLoop::run_in_executor, which hands the result back to the loop.
//
//   tornado::ThreadPoolExecutor pool(4);
//   pool.submit([] { expensive(); });
class ThreadPoolExecutor {
public:
    // max_workers 0: min(32, hardware threads + 4), Python's default.
    explicit ThreadPoolExecutor(std::size_t max_workers = 0);
    // Waits for the queued and running jobs, then joins the threads.
    ~ThreadPoolExecutor();
    ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
    ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;

    // Queues a job (any thread). Throws std::runtime_error after shutdown.
    // A job that throws has its exception logged.
    void submit(Function<void()> job);
    // Refuses new jobs; with `wait`, finishes the queued ones and joins.
    void shutdown(bool wait = true);

    // The limit: as given, or the default that 0 stood for.
    std::size_t max_workers() const noexcept { return max_workers_; }
    // Threads started (on demand, up to max_workers) and not yet joined by
    // shutdown(true). Any thread may ask.
    std::size_t thread_count() const;

private:
    void work();

    std::size_t max_workers_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Function<void()>> jobs_;
    std::vector<std::thread> threads_;
    std::size_t idle_ = 0;
    bool shutting_down_ = false;
};

}  // namespace tornado

// task.h: Task<T>, a coroutine that produces a T, and co_await on a
// chapter 07 Future or on another Task. Tornado's `async def` / `await`.
//
//   Task<std::string> page_title(AsyncHTTPClient& client, std::string url) {
//       HTTPResponse response = co_await client.fetch(url);   // a Future
//       co_return title_of(response.body);
//   }
//   Task<void> report(AsyncHTTPClient& client) {
//       std::string title = co_await page_title(client, "http://127.0.0.1:8888/");
//       std::printf("%s\n", title.c_str());
//   }
//
// A function is a coroutine when its body uses co_await or co_return. The
// compiler then turns it into a state machine: its locals move into a heap
// "frame", each co_await becomes a point where the function can return to
// its caller and later carry on, and the return type's promise_type (below)
// says what happens at the start, at the end and on an exception. The
// chapter README draws the transformation.
//
// The rules of this chapter's Task:
//
// * Lazy: calling a coroutine makes its frame and returns a Task; the body
//   has not run yet. It starts when someone co_awaits the Task (or hands
//   it to spawn(), run_sync() or fire_and_forget(), in gen.h). A Future is
//   the opposite: the operation behind it is already running. The README
//   says why this chapter picked lazy, and how Tornado differs.
// * One owner: the Task owns the frame, like a unique_ptr, and destroys it
//   when the Task goes. A Task can be moved, not copied, and awaited once.
// * The awaiter goes on when the Task ends: the finished coroutine resumes
//   the one awaiting it directly ("symmetric transfer"), in the same turn
//   of the loop.
// * An exception that escapes the body is kept in the promise and thrown
//   again from the awaiter's co_await, as in Python.
// * co_await on a Future resumes the coroutine from the Future's done
//   callback: on the loop, at a later turn than set_result.
//
// Pitfall: take coroutine parameters by value. A reference parameter is
// kept as a reference in the frame, and by the time a lazy Task runs (or
// after its first co_await) the object may be gone.
//
// Threads: the loop's thread only, like Futures.
//
// Includes: this chapter's files include its headers as <task.h>, not
// "task.h", so that the exercise's copies replace them (see "Includes" in
// chapter 07's future.h).
#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <future.h>  // <> on purpose: see "Includes" in chapter 07's future.h

namespace course {

// How many coroutine frames of this chapter are alive (Tasks, and the
// self-freeing drivers of gen.h). Tests check it returns to zero after
// every request and every exception: a leaked frame is a leaked coroutine.
int live_coroutine_frames();

namespace detail {

// Counts frames: every promise of ours holds one. (The promise lives
// inside the frame, so it is born and dies with it.)
class FrameCounter {
public:
    FrameCounter() noexcept { ++live(); }
    ~FrameCounter() { --live(); }
    FrameCounter(const FrameCounter&) = delete;
    FrameCounter& operator=(const FrameCounter&) = delete;

    static std::atomic<int>& live() noexcept {
        static std::atomic<int> count{0};
        return count;
    }
};

}  // namespace detail

inline int live_coroutine_frames() { return detail::FrameCounter::live().load(); }

// --- co_await on a Future ------------------------------------------------------------

// The three questions the compiler asks at `co_await future`:
//   await_ready():  is it done already? Then do not suspend at all.
//   await_suspend(me): I am suspended now; arrange for me to be resumed.
//   await_resume(): the value of the co_await expression (or a throw).
template <typename T>
class FutureAwaiter {
public:
    explicit FutureAwaiter(Future<T> future) : future_(std::move(future)) {}

    bool await_ready() const {
        // TODO(task 1): no need to suspend if the Future is done already.
        // Hint: make hint CH=08 TASK=1.
        throw std::logic_error("TODO(task 1): FutureAwaiter::await_ready");
    }

    void await_suspend(std::coroutine_handle<> waiting) const {
        // TODO(task 1): `waiting` is resumed once the Future is done, from the
        // loop at a later turn: never from here, never inside set_result. What
        // resumes it holds the handle only (no copy of the Future, no `this`).
        (void)waiting;
        throw std::logic_error("TODO(task 1): FutureAwaiter::await_suspend");
    }

    // A copy of the value: other holders of the Future still see theirs.
    T await_resume() const {
        // TODO(task 1): the Future's result (for Future<void>: nothing, but
        // its exception must still come out). if constexpr tells the two apart.
        // The exception is the Future's own, rethrown: of its own type.
        throw std::logic_error("TODO(task 1): FutureAwaiter::await_resume");
    }

private:
    Future<T> future_;
};

// Found by argument-dependent lookup: `co_await client.fetch(url)` works
// because Future lives in namespace course too.
template <typename T>
FutureAwaiter<T> operator co_await(Future<T> future) {
    return FutureAwaiter<T>(std::move(future));
}

// --- Task<T> ---------------------------------------------------------------------------

template <typename T = void>
class Task;

namespace detail {

// At the end of the body the coroutine suspends one last time, and this
// awaiter picks who runs next: the coroutine awaiting this one. Returning
// its handle makes the compiler jump there directly (symmetric transfer)
// instead of nesting one resume() inside another on the stack.
struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }

    template <typename Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> finished) const noexcept {
        return finished.promise().continuation;
    }

    void await_resume() const noexcept {}
};

// What every Task's promise has, whatever T is.
class TaskPromiseBase : FrameCounter {
public:
    // Lazy: the body waits until the Task is awaited.
    std::suspend_always initial_suspend() const noexcept { return {}; }
    // Suspend at the end too: the frame stays for the awaiter to read the
    // result from, and the Task destroys it afterwards.
    FinalAwaiter final_suspend() const noexcept { return {}; }

    // An exception escaped the body: keep it for the awaiter.
    void unhandled_exception() noexcept {
        // TODO(task 2): keep the exception being handled, for the awaiter
        // (std::current_exception). noexcept: store it, never throw.
        // Hint: make hint CH=08 TASK=2.
        // This stand-in keeps a TODO error instead, so that your tests say so.
        exception_ = std::make_exception_ptr(
            std::logic_error("TODO(task 2): TaskPromiseBase::unhandled_exception"));
    }

    // Who to resume when this coroutine ends. noop_coroutine() resumes
    // nothing; the awaiter sets the real one (TaskAwaiter::await_suspend).
    std::coroutine_handle<> continuation = std::noop_coroutine();

protected:
    void rethrow_if_failed() const {
        if (exception_) std::rethrow_exception(exception_);
    }

private:
    std::exception_ptr exception_;
};

template <typename T>
class TaskPromise : public TaskPromiseBase {
public:
    Task<T> get_return_object() noexcept;

    // `co_return value;` ends up here.
    void return_value(T value) {
        // TODO(task 2): keep the value in value_ for result().
        (void)value;
        throw std::logic_error("TODO(task 2): TaskPromise::return_value");
    }

    // The outcome, for the awaiter: the value (moved out), or the exception.
    T result() {
        // TODO(task 2): rethrow the kept exception if there is one, else
        // give the value away (moved: it is read once).
        throw std::logic_error("TODO(task 2): TaskPromise::result");
    }

private:
    std::optional<T> value_;
};

template <>
class TaskPromise<void> : public TaskPromiseBase {
public:
    Task<void> get_return_object() noexcept;

    // `co_return;`, or the end of the body.
    void return_void() const noexcept {}

    void result() const {
        // TODO(task 2): rethrow the kept exception, if any.
        throw std::logic_error("TODO(task 2): TaskPromise<void>::result");
    }
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
    static_assert(!std::is_reference_v<T>, "a Task returns a value: Task<T&> is not supported");

public:
    // The compiler looks for this name to find the promise type.
    using promise_type = detail::TaskPromise<T>;
    using Handle = std::coroutine_handle<promise_type>;

    Task(Task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            destroy();
            frame_ = std::exchange(other.frame_, {});
        }
        return *this;
    }
    ~Task() { destroy(); }

    // `co_await task`: starts the body, and goes on with its result.
    class Awaiter {
    public:
        explicit Awaiter(Handle frame) : frame_(frame) {}

        // A lazy Task has never started: there is nothing to be ready.
        bool await_ready() const noexcept { return false; }

        // The awaiting coroutine is suspended: remember it as the one to
        // resume at the end, and jump into the Task's body (symmetric
        // transfer: the returned handle is resumed in our place).
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) const {
            // TODO(task 2): `awaiting` must be resumed when the Task's body
            // ends (FinalAwaiter resumes the promise's continuation), and the
            // body must start now, in this turn, by symmetric transfer: not by
            // a nested resume() (a million Tasks that finish at once, awaited
            // in a loop, must not grow the stack), nor from a loop callback.
            (void)awaiting;
            throw std::logic_error("TODO(task 2): Task::Awaiter::await_suspend");
        }

        // Back in the awaiter, after the Task's final suspend.
        T await_resume() const { return frame_.promise().result(); }

    private:
        Handle frame_;
    };

    Awaiter operator co_await() const {
        if (!frame_ || frame_.done()) {
            throw std::logic_error("co_await on an empty or finished Task: await a Task once");
        }
        return Awaiter(frame_);
    }

private:
    friend promise_type;
    explicit Task(Handle frame) noexcept : frame_(frame) {}

    // A frame is destroyed when it is suspended: before it started, or at
    // its final suspend. A Task is never destroyed while its body runs,
    // because whoever runs it (the awaiter) holds the Task.
    void destroy() noexcept {
        if (frame_) frame_.destroy();
        frame_ = {};
    }

    Handle frame_;
};

namespace detail {

template <typename T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
    return Task<T>(Task<T>::Handle::from_promise(*this));
}

inline Task<void> TaskPromise<void>::get_return_object() noexcept {
    return Task<void>(Task<void>::Handle::from_promise(*this));
}

}  // namespace detail

}  // namespace course

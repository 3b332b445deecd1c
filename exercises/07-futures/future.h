// future.h (exercise): the chapter's future.h with the key functions cut
// out; each is marked TODO(task N). See README.md beside this file.
//
// future.h: Future<T>, a value that is not there yet. Tornado's
// tornado.concurrent.Future (which is asyncio.Future since Tornado 5).
//
// Chapters 04-06 said "call me back when it is done": every operation took
// a callback, and a task of three steps became three nested lambdas, each
// checking for errors on its own. A Future turns that around: the
// operation *returns* an object that stands for its outcome, and whoever
// wants the outcome asks the object.
//
//   Future<int> answer;                      // pending
//   answer.add_done_callback([](Future<int> done) {
//       std::printf("%d\n", done.result());   // runs on the loop, later
//   });
//   answer.set_result(42);                   // done: the callback is queued
//
//          set_result(v) ──► done, holding v ──┐
//   pending                                    ├─► each done callback is
//          set_exception(e) ► done, holding e ─┘   queued with add_callback
//                                                  and runs at a later turn
//
// The rules, which the tests check and the chapter README explains:
//
// * A Future is done once, with a result or with an exception. set_result
//   or set_exception on a done Future throws InvalidStateError, and so do
//   result() and exception() on a pending one.
// * Done callbacks never run inside set_result, set_exception or
//   add_done_callback, even when the Future is done already: each one is
//   queued on the Future's IOLoop with add_callback, in the order added.
//   Whoever resolves a Future is never re-entered by whoever waits for it.
// * result() gives the value (a reference into the shared state) or
//   rethrows the stored exception.
// * Reference semantics, as in Python: a Future is a handle to a shared
//   state, copies share it, and setting the result through one copy is
//   seen through all. That is also why every method is const: const would
//   protect the handle, not the state, and lambdas that capture a Future
//   by value (the usual way to hand one around) see it as const.
// * Not thread-safe, like the loop: use a Future on its loop's thread.
//   Another thread hands a result over with loop.add_callback.
//
// Chaining (then, chain_future) is below; waiting for many is in multi.h.
//
// Includes: this chapter's files include future.h and multi.h as
// <future.h>, not "future.h". A quoted include looks first in the folder
// of the file that includes it, so future_stream.h would always get the
// future.h beside it; <> searches only the include path, where the
// exercise build puts exercises/07-futures/ first. That is how your copy
// replaces this one everywhere when you do the exercise.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "ioloop.h"

namespace course {

// A Future was used in a way its state does not allow (asyncio's name).
class InvalidStateError : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

template <typename T>
class Future;

namespace detail {

// What every copy of one Future<T> shares.
template <typename T>
struct FutureState {
    explicit FutureState(IOLoop& l) : loop(l) {}

    // Future<void> has no value to keep: std::monostate is an empty
    // placeholder type, so one struct serves both.
    using Value = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

    IOLoop& loop;  // where the done callbacks run
    bool done = false;
    std::optional<Value> value;
    std::exception_ptr exception;
    std::vector<std::function<void(Future<T>)>> callbacks;  // until done
};

// The part of Future<T> that does not depend on what T is: state, done
// callbacks, exceptions, then(). Future<T> and Future<void> add set_result
// and result().
template <typename T>
class FutureBase {
public:
    using DoneCallback = std::function<void(Future<T>)>;

    bool done() const { return state_->done; }
    IOLoop& io_loop() const { return state_->loop; }

    // Makes the Future done with an exception: result() will rethrow it.
    void set_exception(std::exception_ptr error) const {
        if (!error) throw std::invalid_argument("Future::set_exception: a null exception_ptr");
        check_pending("set_exception");
        state_->exception = std::move(error);
        mark_done();
    }

    // The stored exception, or null if the Future holds a result.
    std::exception_ptr exception() const {
        check_done("exception()");
        return state_->exception;
    }

    // Runs callback(this future) on the loop once the Future is done: at a
    // later turn, never from inside this call or inside set_result.
    void add_done_callback(DoneCallback callback) const {
        // TODO(task 1): `callback` runs once, on the Future's loop, at a
        // later turn: after the Future becomes done, or at the next turn if
        // it is done already; never from inside this call. Waiting callbacks
        // live in state_->callbacks; schedule() hands one to the loop.
        // "Done" is state_->done: a failed Future, or a Future<void>, is
        // done without a value.
        // Hint: make hint CH=07 TASK=1.
        (void)callback;
        throw std::logic_error("TODO(task 1): FutureBase::add_done_callback");
    }

    // A Future of what `function` returns once this one is done. `function`
    // receives the result (nothing for Future<void>) and may return a
    // value, nothing, or another Future, which is then waited for too:
    //
    //   fetch(url).then([](HTTPResponse& r) { return r.body.size(); })  // Future<size_t>
    //   fetch(url).then([](HTTPResponse& r) { return fetch(r.body); })  // Future<HTTPResponse>
    //
    // If this Future fails, `function` is skipped and the exception passes
    // on to the returned Future; if `function` throws, the returned Future
    // holds what it threw. Like a try block around every step.
    template <typename Function>
    auto then(Function function) const;

protected:
    explicit FutureBase(IOLoop& loop) : state_(std::make_shared<FutureState<T>>(loop)) {}
    explicit FutureBase(std::shared_ptr<FutureState<T>> state) : state_(std::move(state)) {}

    void check_pending(const char* what) const {
        if (state_->done) {
            throw InvalidStateError(std::string("Future::") + what + ": the Future is already done");
        }
    }

    void check_done(const char* what) const {
        if (!state_->done) {
            throw InvalidStateError(std::string("Future::") + what +
                                    ": the Future is not done yet (wait for it with "
                                    "add_done_callback)");
        }
    }

    // Rethrows the stored exception, if any. For result().
    void rethrow_if_failed() const {
        check_done("result()");
        if (state_->exception) std::rethrow_exception(state_->exception);
    }

    // The value or the exception is in place: the Future is done, and every
    // callback waiting for it is queued on the loop.
    void mark_done() const {
        // TODO(task 1): the Future is now done: every waiting callback goes
        // to the loop (schedule()), in the order added, each once. None is
        // left in the state afterwards, and none runs from here.
        throw std::logic_error("TODO(task 1): FutureBase::mark_done");
    }

    // One loop callback per done callback, so that one that throws (the
    // loop logs it) does not keep the others from running.
    void schedule(DoneCallback callback) const {
        // TODO(task 1): at a later turn of the Future's own loop
        // (state_->loop, not IOLoop::current()), call `callback` with a
        // Future of this same state. Rule: that happens after this call has
        // returned, maybe after every handle is gone, so what the loop runs
        // must own all it uses: the state's shared_ptr (never `this`, and
        // not a weak_ptr, which would let the callback be dropped).
        (void)callback;
        throw std::logic_error("TODO(task 1): FutureBase::schedule");
    }

    std::shared_ptr<FutureState<T>> state_;
};

}  // namespace detail

// The outcome of an operation still in progress.
template <typename T>
class Future : public detail::FutureBase<T> {
public:
    using value_type = T;

    // A new, pending Future whose callbacks will run on `loop`.
    explicit Future(IOLoop& loop = IOLoop::current()) : detail::FutureBase<T>(loop) {}

    // Makes the Future done with `value`.
    void set_result(T value) const {
        this->check_pending("set_result");
        this->state_->value.emplace(std::move(value));
        this->mark_done();
    }

    // The value, or the stored exception rethrown. The value lives in the
    // shared state: every copy of the Future sees the same object.
    T& result() const {
        this->rethrow_if_failed();
        return *this->state_->value;
    }

private:
    friend class detail::FutureBase<T>;
    explicit Future(std::shared_ptr<detail::FutureState<T>> state)
        : detail::FutureBase<T>(std::move(state)) {}
};

// A Future with no value: it says "done" (or "failed, with this exception").
template <>
class Future<void> : public detail::FutureBase<void> {
public:
    using value_type = void;

    explicit Future(IOLoop& loop = IOLoop::current()) : detail::FutureBase<void>(loop) {}

    void set_result() const {
        check_pending("set_result");
        mark_done();
    }

    // Returns if the Future succeeded, rethrows its exception if not.
    void result() const { rethrow_if_failed(); }

private:
    friend class detail::FutureBase<void>;
    explicit Future(std::shared_ptr<detail::FutureState<void>> state)
        : detail::FutureBase<void>(std::move(state)) {}
};

// Copies `from`'s outcome into `to` once `from` is done, unless `to` is
// done by then (someone else, a timeout say, decided first). Tornado's
// tornado.concurrent.chain_future.
template <typename T>
void chain_future(Future<T> from, Future<T> to) {
    // TODO(task 2): once `from` is done, `to` gets its outcome (its exception,
    // or a copy of its value; for T = void just "done"), unless `to` is done
    // by then: the first to decide wins, and a done `to` is left alone (no
    // InvalidStateError). The copy comes from the loop (a done callback on
    // `from`), even when `from` is done already, and the callback holds `to`,
    // never `from` (whose state holds the callback). Hint: make hint CH=07 TASK=2.
    (void)from;
    (void)to;
    throw std::logic_error("TODO(task 2): chain_future");
}

namespace detail {

template <typename T>
struct IsFuture : std::false_type {};
template <typename T>
struct IsFuture<Future<T>> : std::true_type {};

// What then()'s function returns when called with the result.
template <typename T, typename Function>
struct CallResult {
    using type = std::invoke_result_t<Function&, T&>;
};
template <typename Function>
struct CallResult<void, Function> {
    using type = std::invoke_result_t<Function&>;
};

// The value type of the Future then() returns: Future<X> for a function
// returning X or Future<X>.
template <typename R>
struct Unwrap {
    using type = R;
};
template <typename U>
struct Unwrap<Future<U>> {
    using type = U;
};

// Calls `function` with the result of `done` (with nothing for void).
template <typename T, typename Function>
decltype(auto) call_with_result(Function& function, const Future<T>& done) {
    if constexpr (std::is_void_v<T>) {
        return function();
    } else {
        return function(done.result());
    }
}

template <typename T>
template <typename Function>
auto FutureBase<T>::then(Function function) const {
    using Returned = typename CallResult<T, Function>::type;
    using U = typename Unwrap<Returned>::type;
    Future<U> next(io_loop());
    // TODO(task 2): once this Future is done, settle `next` (returned below)
    // as the chapter README's table in "Chaining" says: a failure skips
    // `function` and passes the same exception on; otherwise `function` gets
    // the result (call_with_result) and `next` gets what it returns: a value,
    // nothing (void), or, when it returns a Future, that Future's outcome once
    // it has one. Whatever `function` throws, of any type, lands in `next`.
    // IsFuture<Returned> and std::is_void_v<Returned> tell the cases apart.
    // The callback holds `next` and `function`, never this Future (whose
    // state holds the callback: a cycle, should it never finish).
    (void)function;
    throw std::logic_error("TODO(task 2): FutureBase::then");
    return next;  // unreachable: keeps then()'s return type until you write it
}

}  // namespace detail

}  // namespace course

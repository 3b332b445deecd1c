// task_test.cpp: co_await on a Future (task 1), and Task<T> itself: its
// promise, awaiting one Task from another, exceptions, who frees which
// frame when, and the chapter's spawn, fire_and_forget and run_sync, which
// start Tasks from plain code on the learner's Task (task 2).
#include <gtest/gtest.h>

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "coroutine_fixture.h"
#include "future.h"
#include "gen.h"
#include "task.h"

namespace course::testing {
namespace {

// A coroutine type of the tests' own, so that task 1 is graded without
// Task<T> (task 2): it starts at once, and its frame frees itself at the
// end (the same design as spawn's driver in gen.h).
struct Probe {
    struct promise_type {
        Probe get_return_object() const noexcept { return {}; }
        std::suspend_never initial_suspend() const noexcept { return {}; }
        std::suspend_never final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
        void unhandled_exception() const noexcept { std::terminate(); }  // the bodies catch
    };
};

// What a Probe saw: the co_await's value, or the message of what it threw.
template <typename T>
struct Seen {
    bool done = false;
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
    std::string error;
};

template <typename T>
Probe await_into(Future<T> future, Seen<T>& seen) {
    try {
        if constexpr (std::is_void_v<T>) {
            co_await future;
            seen.value = true;
        } else {
            seen.value = co_await future;
        }
    } catch (const std::exception& error) {
        seen.error = error.what();
    }
    seen.done = true;
}

// --- Task 1: the Future awaiter -----------------------------------------------------------

class Task1_FutureAwaiter : public CoroutineTest {};

TEST_F(Task1_FutureAwaiter, GetsTheValueOfAPendingFuture) {
    Future<int> future(loop);
    loop.call_later(10ms, [future] { future.set_result(7); });
    Seen<int> seen;
    await_into(future, seen);
    ASSERT_TRUE(run_until([&] { return seen.done; }));
    EXPECT_EQ(seen.error, "");
    EXPECT_EQ(seen.value, 7);
}

TEST_F(Task1_FutureAwaiter, ADoneFutureDoesNotSuspend) {
    Future<int> future(loop);
    future.set_result(3);
    Seen<int> seen;
    await_into(future, seen);
    // No loop turn has run: the coroutine never suspended.
    EXPECT_TRUE(seen.done);
    EXPECT_EQ(seen.error, "");
    EXPECT_EQ(seen.value, 3);
}

// The mistake this catches: an await_ready that asks whether the Future
// succeeded rather than whether it is done. A failed Future is done too:
// its exception is there already, and suspending only costs a trip through
// the loop, during which whatever else is queued runs first.
TEST_F(Task1_FutureAwaiter, ADoneFailedFutureDoesNotSuspendEither) {
    Future<int> future(loop);
    future.set_exception(std::make_exception_ptr(std::runtime_error("failed already")));
    Seen<int> seen;
    await_into(future, seen);
    EXPECT_TRUE(seen.done) << "the Future was done (it failed), so co_await must not suspend: "
                              "await_ready is true for every done Future";
    EXPECT_EQ(seen.error, "failed already");
}

TEST_F(Task1_FutureAwaiter, ResumesOnALaterTurnNeverInsideSetResult) {
    Future<int> future(loop);
    Seen<int> seen;
    await_into(future, seen);
    EXPECT_FALSE(seen.done) << "a pending Future must suspend the coroutine";
    future.set_result(1);
    EXPECT_FALSE(seen.done) << "the coroutine ran inside set_result: it must wait for the loop";
    ASSERT_TRUE(run_until([&] { return seen.done; }));
    EXPECT_EQ(seen.error, "");
    EXPECT_EQ(seen.value, 1);
}

TEST_F(Task1_FutureAwaiter, FutureVoid) {
    Future<void> future(loop);
    loop.call_later(5ms, [future] { future.set_result(); });
    Seen<void> seen;
    await_into(future, seen);
    ASSERT_TRUE(run_until([&] { return seen.done; }));
    EXPECT_EQ(seen.error, "");
    EXPECT_TRUE(seen.value.has_value());
}

TEST_F(Task1_FutureAwaiter, TheFuturesExceptionComesOutOfCoAwait) {
    Future<int> future(loop);
    loop.call_later(5ms, [future] {
        future.set_exception(std::make_exception_ptr(std::runtime_error("boom")));
    });
    Seen<int> seen;
    await_into(future, seen);
    ASSERT_TRUE(run_until([&] { return seen.done; }));
    EXPECT_EQ(seen.error, "boom");
    EXPECT_FALSE(seen.value.has_value());
}

TEST_F(Task1_FutureAwaiter, AFailedFutureVoidThrowsToo) {
    Future<void> future(loop);
    future.set_exception(std::make_exception_ptr(std::runtime_error("void failed")));
    Seen<void> seen;
    await_into(future, seen);
    ASSERT_TRUE(run_until([&] { return seen.done; }));
    EXPECT_EQ(seen.error, "void failed");
}

// What a Probe saw of the exception its co_await threw: its type and message.
template <typename T>
Probe await_for_the_type(Future<T> future, std::string& seen, bool& done) {
    try {
        co_await future;
        seen = "no exception";
    } catch (const TrackedError& error) {
        seen = std::string("TrackedError: ") + error.what();
    } catch (const std::exception& error) {
        seen = std::string("another type: ") + error.what();
    }
    done = true;
}

// The mistake this catches: an await_resume that catches the Future's
// exception and throws a new one with the same message (a runtime_error
// made from what()). The message survives, the type does not: a handler
// that awaits a Future failed with HTTPError(404) would answer 500, and a
// catch of the real type never matches.
TEST_F(Task1_FutureAwaiter, TheExceptionKeepsItsType) {
    Future<int> pending(loop);
    loop.call_later(5ms, [pending] {
        pending.set_exception(std::make_exception_ptr(TrackedError("pending, then failed")));
    });
    Future<void> failed_already(loop);
    failed_already.set_exception(std::make_exception_ptr(TrackedError("void, failed already")));
    std::string seen_pending;
    std::string seen_void;
    bool pending_done = false;
    bool void_done = false;
    await_for_the_type(pending, seen_pending, pending_done);
    await_for_the_type(failed_already, seen_void, void_done);
    ASSERT_TRUE(run_until([&] { return pending_done && void_done; }));
    const char* rule = "the exception that comes out of co_await is the Future's own, of its own "
                       "type (rethrow it), not a new one with its message";
    EXPECT_EQ(seen_pending, "TrackedError: pending, then failed") << rule;
    EXPECT_EQ(seen_void, "TrackedError: void, failed already") << rule;
}

TEST_F(Task1_FutureAwaiter, EveryAwaiterGetsTheValue) {
    Future<std::string> future(loop);
    Seen<std::string> first;
    Seen<std::string> second;
    await_into(future, first);
    await_into(future, second);
    future.set_result("shared");
    ASSERT_TRUE(run_until([&] { return first.done && second.done; }));
    EXPECT_EQ(first.value, "shared");
    EXPECT_EQ(second.value, "shared");
    EXPECT_EQ(future.result(), "shared") << "co_await must copy, not take the value away";
}

// The mistake this catches: an awaiter that polls (a loop callback that
// checks done() and queues itself again) instead of waiting for the
// Future's done callback. Every value comes out right, but the loop, which
// should sleep in epoll_wait until the timer, turns thousands of times a
// second for nothing. The bound, 100 turns for a 200 ms wait, is wide: the
// loop needs a handful (the timer, the callback that resumes, the stop).
TEST_F(Task1_FutureAwaiter, TheLoopSleepsWhileACoroutineWaits) {
    Future<int> later(loop);
    loop.call_later(200ms, [later] { later.set_result(1); });
    Seen<int> seen;
    await_into(later, seen);
    later.add_done_callback([this](Future<int>) { loop.stop(); });  // queued after the resume
    IOLoop::Timeout bound = loop.call_later(5s, [this] { loop.stop(); });
    std::uint64_t turns_before = loop.turns();
    loop.start();
    std::uint64_t turns = loop.turns() - turns_before;
    loop.remove_timeout(bound);
    ASSERT_TRUE(run_until([&] { return seen.done; }));
    EXPECT_EQ(seen.value, 1);
    EXPECT_LT(turns, 100u) << "the loop turned " << turns << " times while the coroutine waited "
                              "200 ms: the awaiter polls instead of waiting for the done callback";
}

TEST_F(Task1_FutureAwaiter, NoFutureStateLeftBehind) {
    {
        Future<Tracked> future(loop);
        loop.call_later(5ms, [future] { future.set_result(Tracked(5)); });
        Seen<Tracked> seen;
        await_into(future, seen);
        ASSERT_TRUE(run_until([&] { return seen.done; }));
        EXPECT_EQ(seen.error, "");
        ASSERT_TRUE(seen.value.has_value());
        EXPECT_EQ(seen.value->value, 5);
    }
    run_for(5ms);  // callbacks still queued let go of their Future copies
    EXPECT_EQ(Tracked::live.load(), 0) << "a Future state (holding a Tracked) was kept alive";
}

// --- Task 2: Task<T>, its promise and its awaiter --------------------------------------------

class Task2_TaskPromise : public CoroutineTest {};

// The smallest awaiter that really suspends: it resumes the coroutine at
// the loop's next turn (Tornado's gen.moment). Task 2's tests use it
// instead of a Future, so that they do not depend on task 1.
struct NextTurn {
    IOLoop& loop;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> waiting) const {
        loop.add_callback([waiting] { waiting.resume(); });
    }
    void await_resume() const noexcept {}
};

Task<int> twenty(bool& ran) {
    ran = true;
    co_return 20;
}

Task<int> twenty_one(bool& ran) { co_return co_await twenty(ran) + 1; }

TEST_F(Task2_TaskPromise, ATaskIsLazy) {
    bool ran = false;
    Task<int> task = twenty(ran);
    EXPECT_FALSE(ran) << "calling a coroutine only makes its frame";
    EXPECT_EQ(frames_alive(), 1);
    EXPECT_EQ(run(std::move(task)), 20);
    EXPECT_TRUE(ran);
}

TEST_F(Task2_TaskPromise, CoReturnGivesTheValueToTheAwaiter) {
    bool ran = false;
    EXPECT_EQ(run(twenty_one(ran)), 21);
}

TEST_F(Task2_TaskPromise, TaskVoid) {
    std::vector<std::string> steps;
    auto inner = [](std::vector<std::string>& out) -> Task<void> {
        out.push_back("inner");
        co_return;
    };
    auto outer = [inner](std::vector<std::string>& out) -> Task<void> {
        out.push_back("outer before");
        co_await inner(out);
        out.push_back("outer after");
    };
    run(outer(steps));
    EXPECT_EQ(steps, (std::vector<std::string>{"outer before", "inner", "outer after"}));
}

TEST_F(Task2_TaskPromise, MoveOnlyValues) {
    auto make = []() -> Task<std::unique_ptr<int>> { co_return std::make_unique<int>(42); };
    auto outer = [make]() -> Task<int> {
        std::unique_ptr<int> p = co_await make();
        co_return *p;
    };
    EXPECT_EQ(run(outer()), 42);
}

Task<int> throws_after_a_wait(IOLoop& loop) {
    co_await NextTurn{loop};
    throw TrackedError("deep failure");
}

Task<int> passes_it_on(IOLoop& loop) {
    int value = co_await throws_after_a_wait(loop);  // no try: the exception goes on up
    co_return value + 1;
}

Task<std::string> catches_it(IOLoop& loop) {
    try {
        co_await passes_it_on(loop);
    } catch (const TrackedError& error) {
        co_return error.what();
    }
    co_return "nothing thrown";
}

TEST_F(Task2_TaskPromise, ExceptionsTravelUpThroughTheAwaiters) {
    EXPECT_EQ(run(catches_it(loop)), "deep failure");
}

TEST_F(Task2_TaskPromise, AnUncaughtExceptionReachesRunSync) {
    EXPECT_THROW(run(passes_it_on(loop)), TrackedError);
}

// Task<void> has its own promise and its own result(): the exception must
// come out of its co_await too, or a failed Task<void> looks like success.
Task<void> void_fails(IOLoop& loop, bool wait_first) {
    if (wait_first) co_await NextTurn{loop};
    throw TrackedError(wait_first ? "void failure after a wait" : "void failure at once");
}

Task<std::string> catches_void(IOLoop& loop, bool wait_first) {
    try {
        co_await void_fails(loop, wait_first);
    } catch (const TrackedError& error) {
        co_return error.what();
    }
    co_return "nothing thrown";
}

TEST_F(Task2_TaskPromise, ATaskVoidThrowsAtItsCoAwait) {
    EXPECT_EQ(run(catches_void(loop, false)), "void failure at once");
    EXPECT_EQ(run(catches_void(loop, true)), "void failure after a wait");
    EXPECT_THROW(run(void_fails(loop, true)), TrackedError);
}

TEST_F(Task2_TaskPromise, FramesAreFreedWhenTheAwaiterHasTheResult) {
    // Inside `inner`: run_sync's driver, `outer` and `inner` are alive.
    // Back in `outer` after the co_await: `inner` has been freed.
    int inside = -1;
    int after = -1;
    auto inner = [this](int& seen) -> Task<int> {
        co_await NextTurn{loop};
        seen = frames_alive();
        co_return 1;
    };
    auto outer = [this, inner](int& seen_inside, int& seen_after) -> Task<void> {
        co_await inner(seen_inside);
        seen_after = frames_alive();
    };
    run(outer(inside, after));
    EXPECT_EQ(inside, 3);
    EXPECT_EQ(after, 2);
    EXPECT_EQ(frames_alive(), 0);
}

TEST_F(Task2_TaskPromise, TheAwaiterResumesInTheSameTurn) {
    // When `inner` ends, `outer` goes on at once (symmetric transfer), not
    // at a later turn of the loop.
    bool next_turn_ran = false;
    bool next_turn_before_outer = true;
    auto inner = [this](bool& flag) -> Task<void> {
        co_await NextTurn{loop};
        loop.add_callback([&flag] { flag = true; });
    };
    auto outer = [inner](bool& flag, bool& seen) -> Task<void> {
        co_await inner(flag);
        seen = flag;
    };
    run(outer(next_turn_ran, next_turn_before_outer));
    EXPECT_FALSE(next_turn_before_outer);
}

// The mistake this catches: an await_suspend that starts the Task's body at
// a later turn (a loop callback that resumes it) instead of handing its
// handle back. Every value comes out right, but each co_await of a Task
// costs a trip through the loop, and spawn() no longer runs the body up to
// its first wait before it returns (Task2_Spawn.StartsTheTaskBeforeReturning).
TEST_F(Task2_TaskPromise, AwaitingATaskStartsItsBodyAtOnce) {
    bool next_turn_ran = false;
    bool next_turn_ran_before_the_body = true;
    // `flag` by reference on purpose: the body reads it when it starts.
    auto child = [](const bool& flag, bool& seen) -> Task<void> {
        seen = flag;
        co_return;
    };
    auto parent = [this, child](bool& flag, bool& seen) -> Task<void> {
        loop.add_callback([&flag] { flag = true; });
        co_await child(flag, seen);
    };
    run(parent(next_turn_ran, next_turn_ran_before_the_body));
    EXPECT_FALSE(next_turn_ran_before_the_body)
        << "the awaited Task's body waited for a later turn of the loop: await_suspend must "
           "start it at once (return its handle: symmetric transfer)";
}

TEST_F(Task2_TaskPromise, DestroyingATaskThatNeverRanFreesItsFrame) {
    bool ran = false;
    {
        auto body = [](Tracked kept, bool& flag) -> Task<void> {
            flag = true;
            (void)kept;
            co_return;
        };
        Task<void> never_awaited = body(Tracked(1), ran);
        EXPECT_EQ(frames_alive(), 1);
        EXPECT_EQ(Tracked::live.load(), 1) << "the parameter lives in the frame";
    }
    EXPECT_FALSE(ran);
    EXPECT_EQ(frames_alive(), 0);
    EXPECT_EQ(Tracked::live.load(), 0);
}

TEST_F(Task2_TaskPromise, FramesAreFreedAfterAnException) {
    EXPECT_THROW(run(passes_it_on(loop)), TrackedError);
    EXPECT_EQ(frames_alive(), 0);
    EXPECT_EQ(TrackedError::live.load(), 0) << "the exception was kept alive by a frame or a Future";
}

Task<int> ready_one() { co_return 1; }

TEST_F(Task2_TaskPromise, ATaskIsAwaitedOnce) {
    auto twice = []() -> Task<int> {
        Task<int> task = ready_one();
        int first = co_await task;
        try {
            co_await task;
        } catch (const std::logic_error&) {
            co_return first;
        }
        co_return -1;
    };
    EXPECT_EQ(run(twice()), 1);
}

// --- Task 2: spawn, fire_and_forget, run_sync on your Task -----------------------------------
// gen.h's own code, given, but all of it is a Detached coroutine awaiting
// your Task: these fail when the Task does not start, end, throw or free
// its frame as it should.

class Task2_Spawn : public CoroutineTest {};

// A timer of the tests' own to wait on, so that task 2 is graded without
// sleep (task 3) or the Future awaiter (task 1): resumes the coroutine
// `delay` from now.
struct After {
    IOLoop& loop;
    std::chrono::milliseconds delay;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> waiting) const {
        loop.call_later(delay, [waiting] { waiting.resume(); });
    }
    void await_resume() const noexcept {}
};

TEST_F(Task2_Spawn, StartsTheTaskBeforeReturning) {
    std::vector<std::string> steps;
    auto body = [this](std::vector<std::string>& out) -> Task<int> {
        out.push_back("started");
        co_await After{loop, 5ms};
        out.push_back("finished");
        co_return 9;
    };
    Future<int> outcome = spawn(body(steps), loop);
    EXPECT_EQ(steps, std::vector<std::string>{"started"})
        << "spawn runs the body up to its first wait before it returns: the Task's awaiter "
           "must start the body at once";
    EXPECT_EQ(wait(outcome).result(), 9);
    EXPECT_EQ(steps.size(), 2U);
}

TEST_F(Task2_Spawn, TheFutureHoldsTheException) {
    auto body = [this]() -> Task<int> {
        co_await After{loop, 1ms};
        throw std::runtime_error("spawned and failed");
    };
    Future<int> outcome = wait(spawn(body(), loop));
    EXPECT_EQ(error_message(outcome), "spawned and failed");
}

TEST_F(Task2_Spawn, TheFrameIsFreedEvenIfNobodyLooksAtTheFuture) {
    auto body = [this]() -> Task<int> {
        co_await After{loop, 5ms};
        co_return 1;
    };
    (void)spawn(body(), loop);
    EXPECT_EQ(frames_alive(), 2);  // the driver and the Task
    EXPECT_TRUE(run_until([this] { return frames_alive() == 0; }));
}

TEST_F(Task2_Spawn, FireAndForgetFreesItsFramesAfterSuccessAndFailure) {
    bool done = false;
    auto works = [this](bool& flag) -> Task<void> {
        co_await After{loop, 5ms};
        flag = true;
    };
    auto fails = [this]() -> Task<void> {
        co_await After{loop, 5ms};
        throw TrackedError("logged, not lost");
    };
    fire_and_forget(works(done));
    fire_and_forget(fails());
    EXPECT_EQ(frames_alive(), 4);
    EXPECT_TRUE(run_until([this] { return frames_alive() == 0; }));
    EXPECT_TRUE(done);
    EXPECT_EQ(TrackedError::live.load(), 0);
}

TEST_F(Task2_Spawn, RunSyncThrowsTimeoutErrorAndTheTaskGoesOn) {
    bool finished = false;
    auto slow = [this](bool& flag) -> Task<void> {
        co_await After{loop, 200ms};
        flag = true;
    };
    EXPECT_THROW(run(slow(finished), 20ms), course::TimeoutError);
    EXPECT_FALSE(finished);
    EXPECT_EQ(frames_alive(), 2) << "the timed-out task is still suspended, not freed";
    EXPECT_TRUE(run_until([this] { return frames_alive() == 0; }));
    EXPECT_TRUE(finished);
}

}  // namespace
}  // namespace course::testing

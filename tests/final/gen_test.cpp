// Tests of tornado/gen.h: eager coroutines, awaiting Futures and Tasks,
// exceptions through coroutines, fire-and-forget, multi, sleep,
// with_timeout, moment, run_in_executor, and exact frame lifetime.
#include "tornado/gen.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "alloc_counter.h"
#include "test_util.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;
using testing::blocks_left_behind;
using testing::LogCapture;
using testing::run_turns;
using testing::run_until;
using testing::seconds_since;
using Clock = IOLoop::Clock;

Task<int> record_steps(Future<int> input, std::vector<std::string>* steps) {
    steps->push_back("started");
    int value = co_await input;
    steps->push_back("resumed with " + std::to_string(value));
    co_return value * 2;
}

TEST(Coroutine, StartsAtOnceAndRunsToItsFirstSuspension) {
    IOLoop loop;
    std::vector<std::string> steps;
    Future<int> input;
    Task<int> task = record_steps(input, &steps);
    EXPECT_EQ(steps, (std::vector<std::string>{"started"}));
    EXPECT_FALSE(task.done());
    EXPECT_THROW(task.result(), InvalidStateError);

    input.set_result(21);
    // Never inside set_result: the coroutine goes on at the loop's next turn.
    EXPECT_EQ(steps.size(), 1u);
    run_turns(loop, 2);
    EXPECT_EQ(steps.back(), "resumed with 21");
    ASSERT_TRUE(task.done());
    EXPECT_EQ(task.result(), 42);
}

Task<int> immediate(int value) { co_return value; }

TEST(Coroutine, ACoroutineThatNeverSuspendsIsDoneOnReturn) {
    IOLoop loop;
    Task<int> task = immediate(5);
    EXPECT_TRUE(task.done());
    EXPECT_EQ(task.result(), 5);
    Future<int> done_future;
    done_future.set_result(3);
    std::vector<std::string> steps;
    Task<int> no_wait = record_steps(done_future, &steps);  // awaits a done Future
    EXPECT_TRUE(no_wait.done());
    EXPECT_EQ(no_wait.result(), 6);
}

Task<int> add_one(Future<int> input) {
    int value = co_await input;
    co_return value + 1;
}

Task<int> add_one_after(int value) {
    co_await sleep(1ms);
    co_return value + 1;
}

Future<int> immediate_future(int value) {
    Future<int> future;
    future.set_result(value);
    return future;
}

Task<int> add_two(Future<int> input) {
    int value = co_await add_one(input);
    co_return co_await add_one_after(value);
}

TEST(Coroutine, AwaitsOtherCoroutines) {
    IOLoop loop;
    Future<int> input;
    loop.call_later(1ms, [input] { input.set_result(40); });
    EXPECT_EQ(loop.run_sync([&] { return add_two(input); }), 42);
}

Task<void> throws_after_suspending(std::string message) {
    co_await sleep(1ms);
    throw std::invalid_argument(message);
}

Task<int> middle_layer(std::string message) {
    co_await throws_after_suspending(message);
    co_return 0;  // never reached
}

Task<std::string> top_layer() {
    try {
        co_await middle_layer("deep");
    } catch (const std::invalid_argument& error) {
        co_return std::string("caught ") + error.what();
    }
    co_return "not caught";
}

TEST(Coroutine, ExceptionsComeOutOfTheAwaitWithTheirType) {
    IOLoop loop;
    EXPECT_EQ(loop.run_sync([] { return top_layer(); }), "caught deep");
    EXPECT_THROW(loop.run_sync([] { return middle_layer("up"); }), std::invalid_argument);
}

Task<int> throws_at_once() {
    throw std::out_of_range("before any suspension");
    co_return 0;
}

TEST(Coroutine, AnExceptionBeforeTheFirstSuspensionWaitsInTheTask) {
    IOLoop loop;
    Task<int> task = throws_at_once();  // does not throw here: like a coroutine's Future
    EXPECT_TRUE(task.done());
    EXPECT_THROW(task.result(), std::out_of_range);
}

Task<std::unique_ptr<int>> make_unique_later() {
    co_await sleep(1ms);
    co_return std::make_unique<int>(8);
}

Task<int> unwrap() {
    std::unique_ptr<int> value = co_await make_unique_later();
    Task<std::unique_ptr<int>> task = make_unique_later();
    std::unique_ptr<int>& borrowed = co_await task;  // an lvalue Task lends its value
    std::unique_ptr<int> taken = co_await std::move(task);
    co_return *value + *taken + (borrowed == nullptr ? 100 : 0);
}

TEST(Coroutine, MoveOnlyResults) {
    IOLoop loop;
    EXPECT_EQ(loop.run_sync([] { return unwrap(); }), 116);  // borrowed was moved from
}

Task<void> await_same_task(Task<int>* task) { co_await *task; }

TEST(Coroutine, OneTaskOneAwaiterAtATime) {
    IOLoop loop;
    Future<int> input;
    Task<int> shared = add_one(input);
    Task<void> first = await_same_task(&shared);
    Task<void> second = await_same_task(&shared);
    EXPECT_TRUE(second.done());
    EXPECT_THROW(second.result(), InvalidStateError);
    input.set_result(1);
    ASSERT_TRUE(run_until(loop, [&] { return first.done(); }));
    EXPECT_NO_THROW(first.result());
}

TEST(Coroutine, ATaskBecomesAFuture) {
    IOLoop loop;
    Future<int> input;
    Future<int> pending = add_one(input);  // converts implicitly
    Future<int> finished = immediate(9);
    EXPECT_TRUE(finished.done());
    EXPECT_EQ(finished.result(), 9);
    EXPECT_FALSE(pending.done());
    input.set_result(1);
    ASSERT_TRUE(run_until(loop, [&] { return pending.done(); }));
    EXPECT_EQ(pending.result(), 2);
    Future<int> failed = throws_at_once();
    EXPECT_THROW(failed.result(), std::out_of_range);
}

Task<void> fire_and_forget(std::vector<std::string>* log) {
    co_await sleep(5ms);
    log->push_back("still ran");
}

TEST(Coroutine, ADroppedTaskRunsOnAndFreesItself) {
    std::vector<std::string> log;
    auto scenario = [&] {
        IOLoop loop;
        fire_and_forget(&log);  // the Task is dropped at once
        ASSERT_TRUE(run_until(loop, [&] { return !log.empty(); }));
        log.clear();
    };
    EXPECT_EQ(blocks_left_behind(scenario), 0);
}

Task<void> fails_alone() {
    co_await sleep(1ms);
    throw std::runtime_error("nobody is listening");
}

TEST(Coroutine, TheExceptionOfADroppedTaskIsLogged) {
    LogCapture capture;
    IOLoop loop;
    fails_alone();
    run_until(loop, [&] { return capture.contains("nobody is listening"); }, 2000ms);
    auto lines = capture.matching("Task exception was never retrieved");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].message.find("std::runtime_error: nobody is listening"), std::string::npos);
}

// --- multi ------------------------------------------------------------------------

Task<int> value_after(int value, std::chrono::milliseconds delay) {
    co_await sleep(delay);
    co_return value;
}

Task<int> failure_after(std::string message, std::chrono::milliseconds delay) {
    co_await sleep(delay);
    throw std::runtime_error(message);
}

TEST(Multi, VectorOfTasksKeepsTheOrderGiven) {
    IOLoop loop;
    auto results = loop.run_sync([]() -> Task<std::vector<int>> {
        std::vector<Task<int>> children;
        children.push_back(value_after(1, 30ms));
        children.push_back(value_after(2, 10ms));
        children.push_back(value_after(3, 20ms));
        co_return co_await multi(std::move(children));
    });
    EXPECT_EQ(results, (std::vector<int>{1, 2, 3}));
}

TEST(Multi, TheChildrenRunAtTheSameTime) {
    IOLoop loop;
    auto start = Clock::now();
    loop.run_sync([]() -> Task<void> {
        std::vector<Future<int>> children;
        for (int i = 0; i < 10; ++i) children.push_back(value_after(i, 50ms));
        co_await multi(std::move(children));
    });
    EXPECT_LT(seconds_since(start), 0.4);  // not 10 x 50 ms
}

TEST(Multi, MapOfFuturesAndEmptyInputs) {
    IOLoop loop;
    auto results = loop.run_sync([]() -> Task<std::map<std::string, int>> {
        std::map<std::string, Future<int>> children;
        children.emplace("slow", value_after(1, 20ms));
        children.emplace("fast", value_after(2, 1ms));
        co_return co_await multi(std::move(children));
    });
    EXPECT_EQ(results, (std::map<std::string, int>{{"slow", 1}, {"fast", 2}}));

    Future<std::vector<int>> none = multi(std::vector<Future<int>>{});
    EXPECT_TRUE(none.done());
    EXPECT_TRUE(none.result().empty());
}

Task<void> nap(std::chrono::milliseconds delay, int* finished) {
    co_await sleep(delay);
    ++*finished;
}

TEST(Multi, VoidChildren) {
    IOLoop loop;
    int finished = 0;
    loop.run_sync([&]() -> Task<void> {
        std::vector<Task<void>> children;
        children.push_back(nap(5ms, &finished));
        children.push_back(nap(1ms, &finished));
        co_await multi(std::move(children));
    });
    EXPECT_EQ(finished, 2);
}

// Tornado's rule: multi waits for every child, then raises the exception of
// the first failed child in the given order; the others are logged.
TEST(Multi, WaitsForAllThenRaisesTheFirstFailureInOrder) {
    LogCapture capture;
    IOLoop loop;
    int slow_finished = 0;
    auto start = Clock::now();
    try {
        loop.run_sync([&]() -> Task<void> {
            std::vector<Future<int>> children;
            children.push_back(failure_after("first in order", 30ms));
            children.push_back(failure_after("first in time", 5ms));
            children.push_back([](int* finished) -> Task<int> {
                co_await sleep(60ms);
                ++*finished;
                co_return 0;
            }(&slow_finished));
            co_await multi(std::move(children));
        });
        FAIL() << "multi did not fail";
    } catch (const std::runtime_error& error) {
        EXPECT_STREQ(error.what(), "first in order");
    }
    EXPECT_EQ(slow_finished, 1) << "multi failed before every child finished";
    EXPECT_GE(seconds_since(start), 0.059);
    auto logged = capture.matching("Multiple exceptions in yield list");
    ASSERT_EQ(logged.size(), 1u);
    EXPECT_NE(logged[0].message.find("first in time"), std::string::npos);
}

// --- sleep, moment, with_timeout ------------------------------------------------------

// gen.WaitIterator: each Future as it finishes, with its index.
TEST(WaitIterator, GivesEachFutureAsItFinishesWithItsIndex) {
    IOLoop loop;
    std::vector<std::pair<std::size_t, int>> seen;
    loop.run_sync([&]() -> Task<void> {
        std::vector<Future<int>> futures;
        futures.push_back(value_after(10, 30ms));
        futures.push_back(value_after(20, 1ms));
        futures.push_back(value_after(30, 15ms));
        WaitIterator<int> waiter(std::move(futures));
        EXPECT_FALSE(waiter.current_index());
        while (!waiter.done()) {
            int value = co_await waiter.next();
            seen.emplace_back(*waiter.current_index(), value);
        }
    });
    using Seen = std::vector<std::pair<std::size_t, int>>;
    EXPECT_EQ(seen, (Seen{{1, 20}, {2, 30}, {0, 10}}));
}

// A Future done before the iterator was made comes first (its callback
// runs at the next turn); a failure comes out of its own turn's co_await
// and the iterator goes on.
TEST(WaitIterator, AFailureComesOutInItsTurnAndTheOthersStillCome) {
    IOLoop loop;
    std::vector<std::string> seen;
    loop.run_sync([&]() -> Task<void> {
        Future<int> already_done;
        already_done.set_result(9);
        std::vector<Future<int>> futures;
        futures.push_back(failure_after("broken", 20ms));
        futures.push_back(value_after(7, 1ms));
        futures.push_back(already_done);
        WaitIterator<int> waiter(std::move(futures));
        while (!waiter.done()) {
            try {
                int value = co_await waiter.next();
                seen.push_back(std::to_string(*waiter.current_index()) + ": " + std::to_string(value));
            } catch (const std::runtime_error& error) {
                seen.push_back(std::to_string(*waiter.current_index()) + ": " + error.what());
            }
        }
    });
    EXPECT_EQ(seen, (std::vector<std::string>{"2: 9", "1: 7", "0: broken"}));
}

TEST(WaitIterator, VoidFuturesNoFuturesAndMisuse) {
    IOLoop loop;
    WaitIterator<int> empty(std::vector<Future<int>>{});
    EXPECT_TRUE(empty.done());
    EXPECT_THROW(empty.next(), std::logic_error);

    int finished = 0;
    loop.run_sync([&]() -> Task<void> {
        std::vector<Future<void>> naps;
        naps.push_back(nap(5ms, &finished));
        naps.push_back(nap(1ms, &finished));
        WaitIterator<void> waiter(std::move(naps));
        Future<void> first = waiter.next();
        EXPECT_THROW(waiter.next(), std::logic_error);  // the previous one is pending
        co_await first;
        EXPECT_EQ(waiter.current_index(), std::optional<std::size_t>(1));
        co_await waiter.next();
        EXPECT_EQ(waiter.current_index(), std::optional<std::size_t>(0));
        EXPECT_TRUE(waiter.done());
    });
    EXPECT_EQ(finished, 2);
}

// Proved by order, not by counting ticks (a busy machine can hold the
// loop back for tens of milliseconds): a callback due 10 ms into a 60 ms
// sleep runs before the sleep ends, which a blocking sleep cannot allow.
TEST(Sleep, WaitsWithoutBlockingTheLoop) {
    IOLoop loop;
    std::vector<std::string> order;
    loop.call_later(10ms, [&] { order.push_back("callback"); });
    auto start = Clock::now();
    loop.run_sync([&]() -> Task<void> {
        co_await sleep(60ms);
        order.push_back("sleep ended");
    });
    EXPECT_GE(seconds_since(start), 0.059);
    EXPECT_EQ(order, (std::vector<std::string>{"callback", "sleep ended"}))
        << "the loop was blocked while sleeping";
}

TEST(Moment, GivesTheLoopOneTurn) {
    IOLoop loop;
    std::vector<std::string> order;
    loop.run_sync([&]() -> Task<void> {
        IOLoop::current().add_callback([&] { order.push_back("queued before"); });
        order.push_back("before moment");
        co_await moment;
        order.push_back("after moment");
    });
    EXPECT_EQ(order,
              (std::vector<std::string>{"before moment", "queued before", "after moment"}));
}

TEST(WithTimeout, PassesTheResultWhenInTime) {
    IOLoop loop;
    int value = loop.run_sync([]() -> Task<int> {
        co_return co_await with_timeout(1s, value_after(5, 5ms));
    });
    EXPECT_EQ(value, 5);
}

TEST(WithTimeout, ThrowsTimeoutErrorWhenLateAndLeavesTheFutureRunning) {
    LogCapture capture;
    IOLoop loop;
    // The test resolves this Future itself, after the timeout: a timer
    // would race the timeout when a busy machine delays the loop past both.
    Future<int> slow;
    auto start = Clock::now();
    bool timed_out = loop.run_sync([&]() -> Task<bool> {
        try {
            co_await with_timeout(30ms, slow);
        } catch (const TimeoutError&) {
            co_return true;
        }
        co_return false;
    });
    EXPECT_TRUE(timed_out);
    EXPECT_GE(seconds_since(start), 0.029);
    EXPECT_FALSE(slow.done()) << "the timeout cancelled or resolved the Future it waited for";
    slow.set_exception(std::runtime_error("failed after the timeout"));
    run_turns(loop, 2);
    EXPECT_THROW(slow.result(), std::runtime_error);
    EXPECT_TRUE(capture.contains("Exception in Future after timeout"));
}

// --- run_in_executor ------------------------------------------------------------------

// The work blocks until the loop has ticked five times: it could never
// return if the loop waited for it (the deadline turns that into a
// failure, not a hang).
TEST(RunInExecutorCoroutine, BlockingWorkLeavesTheLoopFree) {
    IOLoop loop;
    std::thread::id loop_thread = std::this_thread::get_id();
    std::thread::id worker_thread;
    std::atomic<int> ticks = 0;
    PeriodicCallback ticker([&] { ++ticks; }, 5ms);
    ticker.start();
    bool saw_ticks = loop.run_sync([&]() -> Task<bool> {
        bool value = co_await run_in_executor([&] {
            worker_thread = std::this_thread::get_id();
            auto deadline = Clock::now() + 10s;
            while (ticks < 5 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
            return ticks >= 5;
        });
        EXPECT_EQ(std::this_thread::get_id(), loop_thread);
        co_return value;
    });
    ticker.stop();
    EXPECT_TRUE(saw_ticks) << "the loop was blocked";
    EXPECT_NE(worker_thread, loop_thread);
}

TEST(RunInExecutorCoroutine, TheExceptionComesBack) {
    IOLoop loop;
    EXPECT_THROW(loop.run_sync([]() -> Task<void> {
        co_await run_in_executor([]() -> int { throw std::length_error("too long"); });
    }),
                 std::length_error);
}

// --- spawn_callback -----------------------------------------------------------------------

TEST(SpawnCallback, KeepsACoroutineLambdaAliveAndLogsItsException) {
    LogCapture capture;
    IOLoop loop;
    std::string seen;
    std::string captured(100, 'k');
    loop.spawn_callback([captured, &seen]() -> Task<void> {
        co_await sleep(2ms);
        seen = captured;  // the lambda must still exist here
        throw std::runtime_error("spawned failure");
    });
    ASSERT_TRUE(run_until(loop, [&] { return capture.contains("spawned failure"); }));
    EXPECT_EQ(seen, captured);
    EXPECT_TRUE(capture.contains("Exception in a callback spawned at gen_test.cpp:"));
}

TEST(SpawnCallback, AddCallbackWithACoroutineLambdaIsAsSafe) {
    IOLoop loop;
    std::string seen;
    std::string captured(100, 'a');
    loop.add_callback([captured, &seen]() -> Task<void> {
        co_await sleep(2ms);
        seen = captured;
    });
    ASSERT_TRUE(run_until(loop, [&] { return !seen.empty(); }));
    EXPECT_EQ(seen, captured);
}

// --- exact frame lifetime -----------------------------------------------------------------
//
// Each scenario makes its own loop; the counting allocator must find no
// block left once it is gone: every coroutine frame, Future state and
// callback was freed.

TEST(FrameLifetime, NothingLeftAfterCompletionExceptionOrCancellation) {
    EXPECT_EQ(blocks_left_behind([] {
                  IOLoop loop;
                  loop.run_sync([] { return add_two(immediate_future(1)); });
              }),
              0)
        << "awaited chain";
    EXPECT_EQ(blocks_left_behind([] {
                  IOLoop loop;
                  EXPECT_THROW(loop.run_sync([] { return middle_layer("x"); }),
                               std::invalid_argument);
              }),
              0)
        << "exception through a chain";
    EXPECT_EQ(blocks_left_behind([] {
                  IOLoop loop;
                  loop.run_sync([]() -> Task<void> {
                      std::vector<Future<int>> children;
                      for (int i = 0; i < 5; ++i) children.push_back(value_after(i, 1ms));
                      co_await multi(std::move(children));
                  });
              }),
              0)
        << "multi";
    EXPECT_EQ(blocks_left_behind([] {
                  IOLoop loop;
                  loop.run_sync([]() -> Task<void> {
                      try {
                          co_await with_timeout(1ms, value_after(1, 50ms));
                      } catch (const TimeoutError&) {
                      }
                  });
              }),
              0)
        << "with_timeout that timed out (the inner coroutine is cancelled by close)";
    EXPECT_EQ(blocks_left_behind([] {
                  IOLoop loop;
                  EXPECT_THROW(loop.run_sync([] { return value_after(1, 1h); }, 1ms),
                               TimeoutError);
              }),
              0)
        << "run_sync timeout";
    EXPECT_EQ(blocks_left_behind([] {
                  IOLoop loop;
                  Task<int> dropped_when_done = immediate(1);
                  Future<int> became_future = value_after(2, 1ms);
                  loop.run_sync([&] { return became_future; });
              }),
              0)
        << "Task to Future";
}

// The frame of a small coroutine stays small: it is what every waiting
// connection of a server costs.
Task<int> small_coroutine(Future<int> input) { co_return co_await input; }

TEST(FrameLifetime, ASmallCoroutineHasASmallFrame) {
    IOLoop loop;
    Future<int> input;
    Task<int> task = small_coroutine(input);
    // The frame was the last block allocated before the coroutine suspended.
    std::size_t frame_size = testing::last_allocation_size();
    EXPECT_LE(frame_size, 160u);
    input.set_result(1);
    run_turns(loop, 2);
    EXPECT_EQ(task.result(), 1);
}

}  // namespace
}  // namespace tornado

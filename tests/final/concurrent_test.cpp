// Tests of tornado/concurrent.h: Future<T> (state, callbacks on the loop,
// cancellation, chaining, exact freeing) and ThreadPoolExecutor.
#include "tornado/concurrent.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "alloc_counter.h"
#include "test_util.h"
#include "tornado/ioloop.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;
using testing::LogCapture;
using testing::run_turns;
using testing::run_until;

TEST(Future, NewFutureIsPending) {
    IOLoop loop;
    Future<int> future;
    EXPECT_TRUE(future.valid());
    EXPECT_FALSE(future.done());
    EXPECT_FALSE(future.cancelled());
    EXPECT_THROW(future.result(), InvalidStateError);
    EXPECT_THROW(future.exception(), InvalidStateError);
}

TEST(Future, ResultIsSharedByEveryCopy) {
    IOLoop loop;
    Future<std::string> future;
    Future<std::string> copy = future;
    EXPECT_TRUE(copy == future);
    future.set_result("hello");
    EXPECT_TRUE(copy.done());
    EXPECT_EQ(copy.result(), "hello");
    EXPECT_EQ(copy.exception(), nullptr);
    copy.result() += "!";  // one object, as in Python
    EXPECT_EQ(future.result(), "hello!");
    EXPECT_FALSE(Future<std::string>() == future);
}

TEST(Future, SettingTwiceIsAnError) {
    IOLoop loop;
    Future<int> future;
    future.set_result(1);
    EXPECT_THROW(future.set_result(2), InvalidStateError);
    EXPECT_THROW(future.set_exception(std::runtime_error("late")), InvalidStateError);
    EXPECT_EQ(future.result(), 1);
}

TEST(Future, ResultRethrowsTheException) {
    IOLoop loop;
    Future<int> future;
    future.set_exception(std::invalid_argument("bad"));
    EXPECT_TRUE(future.done());
    EXPECT_THROW(future.result(), std::invalid_argument);
    std::exception_ptr error = future.exception();
    ASSERT_NE(error, nullptr);
    EXPECT_THROW(std::rethrow_exception(error), std::invalid_argument);
}

TEST(Future, VoidFuture) {
    IOLoop loop;
    Future<void> future;
    future.set_result();
    EXPECT_TRUE(future.done());
    EXPECT_NO_THROW(future.result());
}

TEST(Future, DoneCallbacksRunOnTheLoopNeverInsideSetResult) {
    IOLoop loop;
    Future<int> future;
    std::vector<std::string> events;
    future.add_done_callback([&](Future<int> done) {
        events.push_back("first " + std::to_string(done.result()));
    });
    future.add_done_callback([&] { events.push_back("second"); });
    future.set_result(7);
    events.push_back("after set_result");
    run_turns(loop, 2);
    EXPECT_EQ(events, (std::vector<std::string>{"after set_result", "first 7", "second"}));
}

TEST(Future, IOLoopAddFutureCallsBackOnTheLoop) {
    IOLoop loop;
    Future<int> future;
    int seen = 0;
    loop.add_future(future, [&](Future<int> done) { seen = done.result(); });
    loop.call_later(1ms, [future] { future.set_result(5); });
    ASSERT_TRUE(run_until(loop, [&] { return seen != 0; }));
    EXPECT_EQ(seen, 5);
}

TEST(Future, CallbackAddedWhenDoneRunsAtTheNextTurn) {
    IOLoop loop;
    Future<int> future;
    future.set_result(1);
    bool ran = false;
    future.add_done_callback([&] { ran = true; });
    EXPECT_FALSE(ran);
    run_turns(loop, 2);
    EXPECT_TRUE(ran);
}

TEST(Future, FutureAddDoneCallbackRunsAtOnceWhenDone) {
    IOLoop loop;
    Future<int> future;
    future.set_result(3);
    int seen = 0;
    future_add_done_callback(future, [&](Future<int> done) { seen = done.result(); });
    EXPECT_EQ(seen, 3);

    Future<int> pending;
    future_add_done_callback(pending, [&](Future<int> done) { seen = done.result(); });
    pending.set_result(4);
    EXPECT_EQ(seen, 3);
    run_turns(loop, 2);
    EXPECT_EQ(seen, 4);
}

TEST(Future, ExceptionInADoneCallbackIsLoggedAndTheOthersStillRun) {
    LogCapture capture;
    IOLoop loop;
    Future<void> future;
    bool second_ran = false;
    future.add_done_callback([] { throw std::runtime_error("callback failed"); });
    future.add_done_callback([&] { second_ran = true; });
    future.set_result();
    run_turns(loop, 2);
    EXPECT_TRUE(second_ran);
    EXPECT_TRUE(capture.contains("callback failed"));
}

TEST(Future, CancelRunsCallbacksAndMakesResultThrow) {
    IOLoop loop;
    Future<int> future;
    bool called = false;
    future.add_done_callback([&](Future<int> done) { called = done.cancelled(); });
    EXPECT_TRUE(future.cancel());
    EXPECT_FALSE(future.cancel());
    EXPECT_TRUE(future.done());
    EXPECT_TRUE(future.cancelled());
    EXPECT_THROW(future.result(), CancelledError);
    EXPECT_THROW(future.exception(), CancelledError);
    EXPECT_THROW(future.set_result(1), InvalidStateError);
    future_set_result_unless_cancelled(future, 1);  // no throw: that is its point
    run_turns(loop, 2);
    EXPECT_TRUE(called);
}

TEST(Future, SetExceptionUnlessCancelledLogsWhenCancelled) {
    LogCapture capture;
    IOLoop loop;
    Future<int> future;
    future.cancel();
    future_set_exception_unless_cancelled(future,
                                          std::make_exception_ptr(std::runtime_error("lost")));
    EXPECT_TRUE(capture.contains("Exception after Future was cancelled"));
    EXPECT_TRUE(capture.contains("lost"));
}

TEST(Future, ChainFutureCopiesValueExceptionAndCancellation) {
    IOLoop loop;
    Future<int> a, b;
    chain_future(a, b);
    a.set_result(5);
    run_turns(loop, 2);
    ASSERT_TRUE(b.done());
    EXPECT_EQ(b.result(), 5);

    Future<int> c, d;
    chain_future(c, d);
    c.set_exception(std::out_of_range("range"));
    run_turns(loop, 2);
    EXPECT_THROW(d.result(), std::out_of_range);
    EXPECT_THROW(c.result(), std::out_of_range);

    Future<int> e, f;
    chain_future(e, f);
    e.cancel();
    run_turns(loop, 2);
    EXPECT_TRUE(f.cancelled());

    Future<int> g, h;
    chain_future(g, h);
    h.set_result(1);  // already done: left alone
    g.set_result(2);
    run_turns(loop, 2);
    EXPECT_EQ(h.result(), 1);
}

TEST(Future, MoveOnlyValues) {
    IOLoop loop;
    Future<std::unique_ptr<int>> a, b;
    chain_future(a, b);
    a.set_result(std::make_unique<int>(9));
    run_turns(loop, 2);
    ASSERT_TRUE(b.done());
    ASSERT_NE(b.result(), nullptr);
    EXPECT_EQ(*b.result(), 9);
}

TEST(Future, UnretrievedExceptionIsLoggedWhenTheLastCopyGoes) {
    LogCapture capture;
    IOLoop loop;
    {
        Future<int> future;
        future.set_exception(std::runtime_error("nobody looked"));
    }
    EXPECT_TRUE(capture.contains("Future exception was never retrieved"));
    EXPECT_TRUE(capture.contains("nobody looked"));
    {
        Future<int> future;
        future.set_exception(std::runtime_error("looked at"));
        EXPECT_THROW(future.result(), std::runtime_error);
    }
    EXPECT_FALSE(capture.contains("looked at"));
}

TEST(Future, EmptyHandleThrowsInsteadOfCrashing) {
    Future<int> empty(nullptr);
    EXPECT_FALSE(empty.valid());
    EXPECT_THROW(empty.done(), InvalidStateError);
    Future<int> moved;
    Future<int> target = std::move(moved);
    EXPECT_FALSE(moved.valid());  // NOLINT: checking the moved-from state on purpose
    EXPECT_TRUE(target.valid());
}

// The state (and each callback) is freed as soon as the last copy goes and
// the callbacks have run: the counting allocator sees no block left.
TEST(Future, StateIsFreedExactly) {
    IOLoop loop;
    auto scenario = [&] {
        Future<std::string> future;
        Future<std::string> copy = future;
        std::string seen;
        future.add_done_callback([&seen](Future<std::string> done) { seen = done.result(); });
        copy.set_result(std::string(100, 'x'));  // longer than the small-string buffer
        run_turns(loop, 2);
        EXPECT_EQ(seen.size(), 100u);
    };
    EXPECT_EQ(testing::blocks_left_behind(scenario), 0);
}

// --- ThreadPoolExecutor -----------------------------------------------------------

TEST(ThreadPoolExecutor, RunsJobsOnOtherThreadsAtMostMaxWorkersAtOnce) {
    ThreadPoolExecutor pool(2);
    std::atomic<int> running{0}, most{0}, finished{0};
    std::atomic<bool> other_thread{true};
    std::thread::id caller = std::this_thread::get_id();
    for (int i = 0; i < 8; ++i) {
        pool.submit([&] {
            int now = ++running;
            int seen = most.load();
            while (now > seen && !most.compare_exchange_weak(seen, now)) {
            }
            if (std::this_thread::get_id() == caller) other_thread = false;
            std::this_thread::sleep_for(20ms);
            --running;
            ++finished;
        });
    }
    pool.shutdown(true);  // waits for every queued job
    EXPECT_EQ(finished.load(), 8);
    EXPECT_LE(most.load(), 2);
    EXPECT_EQ(pool.thread_count(), 0u);  // shutdown joined them
    EXPECT_TRUE(other_thread.load());
    EXPECT_THROW(pool.submit([] {}), std::runtime_error);
}

TEST(ThreadPoolExecutor, StartsThreadsOnlyWhenNeeded) {
    ThreadPoolExecutor pool(8);
    EXPECT_EQ(pool.thread_count(), 0u);
    std::atomic<int> done{0};
    pool.submit([&] { ++done; });
    pool.shutdown(true);
    EXPECT_EQ(done.load(), 1);
    EXPECT_EQ(pool.max_workers(), 8u);
}

TEST(ThreadPoolExecutor, AJobExceptionIsLogged) {
    LogCapture capture;
    {
        ThreadPoolExecutor pool(1);
        pool.submit([] { throw std::runtime_error("job failed"); });
    }
    EXPECT_TRUE(capture.contains("job failed"));
}

TEST(RunInExecutor, ResultComesBackOnTheLoopThread) {
    IOLoop loop;
    std::thread::id loop_thread = std::this_thread::get_id();
    std::thread::id worker_thread, callback_thread;
    Future<int> future = loop.run_in_executor(nullptr, [&] {
        worker_thread = std::this_thread::get_id();
        return 6 * 7;
    });
    int seen = 0;
    future.add_done_callback([&](Future<int> done) {
        callback_thread = std::this_thread::get_id();
        seen = done.result();
    });
    ASSERT_TRUE(run_until(loop, [&] { return seen != 0; }));
    EXPECT_EQ(seen, 42);
    EXPECT_NE(worker_thread, loop_thread);
    EXPECT_EQ(callback_thread, loop_thread);
}

TEST(RunInExecutor, ADefaultExecutorOfOurChoice) {
    IOLoop loop;
    loop.set_default_executor(std::make_unique<ThreadPoolExecutor>(1));
    EXPECT_EQ(loop.default_executor().max_workers(), 1u);
    Future<int> future = loop.run_in_executor(nullptr, [] { return 3; });
    ASSERT_TRUE(run_until(loop, [&] { return future.done(); }));
    EXPECT_EQ(future.result(), 3);
}

TEST(RunInExecutor, ExceptionComesBackWithItsType) {
    IOLoop loop;
    ThreadPoolExecutor pool(1);
    Future<void> future =
        loop.run_in_executor(&pool, []() -> void { throw std::domain_error("worker failed"); });
    ASSERT_TRUE(run_until(loop, [&] { return future.done(); }));
    EXPECT_THROW(future.result(), std::domain_error);
}

TEST(RunInExecutor, ManyJobsFromManyFuturesAllArrive) {
    IOLoop loop;
    ThreadPoolExecutor pool(4);
    std::vector<Future<int>> futures;
    for (int i = 0; i < 200; ++i) {
        futures.push_back(loop.run_in_executor(&pool, [i] { return i; }));
    }
    ASSERT_TRUE(run_until(loop, [&] {
        for (auto& future : futures) {
            if (!future.done()) return false;
        }
        return true;
    }));
    for (int i = 0; i < 200; ++i) EXPECT_EQ(futures[static_cast<std::size_t>(i)].result(), i);
}

}  // namespace
}  // namespace tornado

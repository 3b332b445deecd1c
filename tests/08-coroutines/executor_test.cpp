// executor_test.cpp: run_in_executor (task 4), the ThreadPool under it, and
// the lesson's measurement: a blocking call inside a coroutine freezes the
// loop; the same call on the pool does not.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "coroutine_fixture.h"
#include "executor.h"
#include "future.h"
#include "gen.h"
#include "multi.h"
#include "task.h"

namespace course::testing {
namespace {

// The pool's threads are joined before the base fixture counts what
// outlived the test: a worker may still be dropping its copy of a job, and
// of the exception the job threw, just after the loop has the result (seen
// once in CI as "a TrackedError outlived the test"). The loop (in the base
// fixture) outlives the pool either way.
class ExecutorTest : public CoroutineTest {
protected:
    void TearDown() override {
        pool_owner_.reset();
        CoroutineTest::TearDown();
    }

private:
    std::unique_ptr<ThreadPool> pool_owner_ = std::make_unique<ThreadPool>(2);

protected:
    ThreadPool& pool = *pool_owner_;
};

// --- Task 4: run_in_executor -------------------------------------------------------------------
// Graded with Future callbacks only (no co_await), so that it does not
// depend on tasks 1 and 2, except for the last test.

class Task4_RunInExecutor : public ExecutorTest {};

TEST_F(Task4_RunInExecutor, RunsOnAPoolThreadAndResolvesOnTheLoopThread) {
    std::thread::id worker;
    std::thread::id resolved_on;
    Future<int> outcome = run_in_executor(pool, [&worker] {
        worker = std::this_thread::get_id();
        return 6 * 7;
    }, loop);
    outcome.add_done_callback([&resolved_on](Future<int>) {
        resolved_on = std::this_thread::get_id();
    });
    wait(outcome);
    run_for(5ms);  // the done callback
    EXPECT_EQ(outcome.result(), 42);
    EXPECT_NE(worker, std::this_thread::get_id()) << "the function ran on the loop's thread";
    EXPECT_NE(worker, std::thread::id());
    EXPECT_EQ(resolved_on, std::this_thread::get_id()) << "the Future must be resolved on the loop";
}

TEST_F(Task4_RunInExecutor, NeverResolvesTheFutureFromTheWorker) {
    // Had the worker called set_result itself, the Future would be done
    // before the loop ran again; the loop has not turned here.
    std::atomic<bool> ran{false};
    Future<int> outcome = run_in_executor(pool, [&ran] {
        ran = true;
        return 1;
    }, loop);
    for (int i = 0; i < 200 && !ran; ++i) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(ran);
    EXPECT_FALSE(outcome.done()) << "only the loop's thread may resolve a Future";
    EXPECT_EQ(wait(outcome).result(), 1);
}

TEST_F(Task4_RunInExecutor, VoidFunctions) {
    std::atomic<int> calls{0};
    Future<void> outcome = run_in_executor(pool, [&calls] { ++calls; }, loop);
    wait(outcome);
    EXPECT_NO_THROW(outcome.result());
    EXPECT_EQ(calls, 1);
}

TEST_F(Task4_RunInExecutor, TheExceptionComesBackInTheFuture) {
    Future<std::string> outcome = run_in_executor(pool, []() -> std::string {
        throw TrackedError("the blocking call failed");
    }, loop);
    wait(outcome);
    EXPECT_EQ(error_message(outcome), "the blocking call failed");
}

TEST_F(Task4_RunInExecutor, TheLoopStaysFreeWhileTheWorkBlocks) {
    auto started = IOLoop::time();
    Future<int> outcome = run_in_executor(pool, [] {
        std::this_thread::sleep_for(300ms);
        return 1;
    }, loop);
    double timer_at_ms = -1;
    loop.call_later(20ms, [&] { timer_at_ms = ms_since(started); });
    wait(outcome);
    EXPECT_GE(ms_since(started), 300.0);
    EXPECT_GE(timer_at_ms, 20.0);
    EXPECT_LT(timer_at_ms, 150.0) << "the loop was blocked while the pool worked";
}

// Where the pool thread stops once it has run the work: the work is
// destroyed there (HeldOnThePool with it), and waits for the test to open
// the gate (5 s at most). Meanwhile, whatever the work still holds is held.
struct Gate {
    // Called as the function is destroyed: on the pool thread it waits.
    void arrive() {
        std::unique_lock<std::mutex> lock(mutex);
        arrived = true;
        changed.notify_all();
        if (std::this_thread::get_id() != test_thread) {
            changed.wait_for(lock, 5s, [this] { return opened; });
        }
    }
    void wait_until_arrived() {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait_for(lock, 5s, [this] { return arrived; });
    }
    void open() {
        std::lock_guard<std::mutex> lock(mutex);
        opened = true;
        changed.notify_all();
    }

    const std::thread::id test_thread = std::this_thread::get_id();
    std::mutex mutex;
    std::condition_variable changed;
    bool arrived = false;
    bool opened = false;
};

// Put in the function run_in_executor runs; tells the Gate when that
// function is destroyed (a moved-from one holds no Gate and says nothing).
class HeldOnThePool {
public:
    explicit HeldOnThePool(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
    HeldOnThePool(const HeldOnThePool&) = default;
    HeldOnThePool(HeldOnThePool&&) = default;
    ~HeldOnThePool() {
        if (gate_) gate_->arrive();
    }

private:
    std::shared_ptr<Gate> gate_;
};

// The mistake this catches: the pool thread keeping a copy of the Future
// (captured by copy into the loop callback, not moved). Then the loop may
// be done with the Future before the pool thread lets go of its copy, and
// the state, value included, is freed on the pool thread, racing with the
// loop thread. Here the pool thread is held just after the work, so such a
// copy is still there when the loop has dropped every handle of its own.
TEST_F(Task4_RunInExecutor, ThePoolThreadKeepsNoShareOfTheFuture) {
    auto gate = std::make_shared<Gate>();
    int tracked_before = Tracked::live;
    {
        Future<Tracked> outcome = run_in_executor(
            pool, [held = HeldOnThePool(gate)] { return Tracked(7); }, loop);
        wait(outcome);
        EXPECT_EQ(outcome.result().value, 7);
    }
    run_for(5ms);                // callbacks still queued let go of what they hold
    gate->wait_until_arrived();  // the work has returned: its locals are gone
    EXPECT_EQ(Tracked::live.load(), tracked_before)
        << "the loop let go of the Future, yet its state (and value) lives on: the pool "
           "thread kept a copy of the Future, and would free it there (move it whole into "
           "the loop callback)";
    gate->open();
}

TEST_F(Task4_RunInExecutor, InACoroutine) {
    auto body = [this]() -> Task<std::string> {
        std::string text =
            co_await run_in_executor(pool, [] { return std::string("from the pool"); });
        co_return text + ", back on the loop";
    };
    EXPECT_EQ(run(body()), "from the pool, back on the loop");
}

// --- the pool ------------------------------------------------------------------------------------

TEST(ThreadPool, ItsSizeCapsHowManyRunAtOnce) {
    std::atomic<int> running{0};
    std::atomic<int> most{0};
    {
        ThreadPool two(2);
        for (int i = 0; i < 6; ++i) {
            two.submit([&] {
                int now = ++running;
                int seen = most.load();
                while (now > seen && !most.compare_exchange_weak(seen, now)) {
                }
                std::this_thread::sleep_for(20ms);
                --running;
            });
        }
    }  // the destructor runs what was queued, then joins
    EXPECT_EQ(most.load(), 2);
    EXPECT_EQ(running.load(), 0);
}

// --- the trap: blocking inside a coroutine -------------------------------------------------------
// What these measure is printed, for the chapter README.

class BlockingTrap : public ExecutorTest {
protected:
    // Starts `work` and a 20 ms timer at once; returns how late the timer
    // fired, in ms.
    double timer_lateness_ms(Task<void> work) {
        auto started = IOLoop::time();
        double fired_at_ms = -1;
        loop.call_later(20ms, [&] { fired_at_ms = ms_since(started); });
        run(std::move(work));
        run_until([&] { return fired_at_ms >= 0; });
        return fired_at_ms - 20.0;
    }
};

TEST_F(BlockingTrap, ABlockingCallInACoroutineFreezesTheLoop) {
    auto wrong = []() -> Task<void> {
        std::this_thread::sleep_for(300ms);  // on the loop's thread
        co_return;
    };
    double late = timer_lateness_ms(wrong());
    std::printf("a 20 ms timer beside a blocking 300 ms sleep in a coroutine fired %.1f ms late\n",
                late);
    EXPECT_GE(late, 250.0) << "the coroutine should have held the loop for 300 ms";
}

TEST_F(BlockingTrap, TheSameCallOnTheExecutorDoesNot) {
    auto right = [this]() -> Task<void> {
        co_await run_in_executor(pool, [] { std::this_thread::sleep_for(300ms); });
    };
    double late = timer_lateness_ms(right());
    std::printf("a 20 ms timer beside the same sleep through run_in_executor fired %.1f ms late\n",
                late);
    EXPECT_LT(late, 100.0);
}

}  // namespace
}  // namespace course::testing
